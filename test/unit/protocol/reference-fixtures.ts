/**
 * The reference engine's integration bodies (microengine-webhooks-py master, tests/integration/test-*.json, trailing
 * newline stripped as its harness does). Byte-exact: their HMACs are the test vectors of docs/protocol.md §15.
 */
export const BENIGN_BODY =
  '{"id": "a7f8818a-95fc-4487-ad9a-522f6cd88cb2", "artifact_type": "file", "artifact_uri": "https://example.com", "sha256": "asdf", "mimetype": "text/plain", "expiration": "2121-06-24T10:03:28.006071", "phase": "assertion", "response_url": "http://integration:5000", "rules": {"min_allowed_bid": 62500000000000000 , "max_allowed_bid":  1000000000000000000}}';

export const MALICIOUS_BODY =
  '{"id": "a7e8818a-95fc-4487-ad9a-522f6cd88cb2", "artifact_type": "file", "artifact_uri": "https://secure.eicar.org/eicar.com", "sha256": "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", "mimetype": "text/plain", "expiration": "2121-06-24T10:03:28.006071", "phase": "assertion", "response_url": "http://integration:5000", "rules": {"min_allowed_bid": 62500000000000000 , "max_allowed_bid":  1000000000000000000}}';

/** The README's v0 sample (expiration moved into the future so it is not "expired on arrival"). */
export const README_V0_BODY =
  '{"guid":"7cb3067a-1ae7-4b6b-9c0e-6c3b5a4f1d2e","artifact_type":"FILE","artifact_url":"https://secure.eicar.org/eicar.com","sha256":"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f","mimetype":"text/plain","expiration":"2121-02-19T10:13:47.036168","phase":"assertion","response_url":"https://example.com/","rules":{"min_allowed_bid":62500000000000,"max_allowed_bid":1000000000000000000}}';
