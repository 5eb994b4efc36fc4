/*
  EICAR test file: the 68 harmless bytes that every anti-malware product agrees to treat as malware, so an
  engine can be tested without real malware (https://www.eicar.org/download-anti-malware-testfile/).

  Every `.yar` or `.yara` file in rules/ (and its subfolders) is compiled into one rule set when the engine
  starts, and again when you save one under `npm run dev`. A rule that matches makes the answer `malicious`;
  the `meta:` fields below shape it (see rules/meta-fields.yar for all of them).
*/
rule EICAR_Test_File
{
    meta:
        // The answer's malware_family (without it, the rule's name is used).
        family = "EICAR-Test-File"
        description = "The EICAR anti-malware test file"
        reference = "https://www.eicar.org/download-anti-malware-testfile/"

    strings:
        // The string is the whole file; it may be followed by whitespace, nothing else.
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

    condition:
        $eicar at 0 and filesize <= 128
}
