import { createHash } from 'node:crypto';

/** An artifact the simulator serves, with what the bounty says about it. */
export interface Artifact {
  bytes: Buffer;
  mimetype: string;
  sha256: string;
}

/**
 * The 68-byte EICAR test file. Assembled at run time so that this package's own files are not flagged by the
 * antivirus on a developer's machine (scanners match the contiguous string).
 */
const EICAR = Buffer.from(['X5O!P%@AP[4\\PZX54(P^)7CC)7}$', 'EICAR-STANDARD-ANTIVIRUS', '-TEST-FILE!$H+H*'].join(''), 'ascii');

const BENIGN = Buffer.from('polyswarm-engine test: a harmless plain text file. Nothing to see here.\n', 'utf8');

/** The page behind the URL-artifact case: a tiny, harmless HTML document. */
const PAGE = Buffer.from(
  '<!doctype html><html><head><title>polyswarm-engine test page</title></head><body><p>A harmless page.</p></body></html>\n',
  'utf8',
);

export function artifactOf(bytes: Uint8Array, mimetype: string): Artifact {
  const buffer = Buffer.from(bytes);
  return { bytes: buffer, mimetype, sha256: createHash('sha256').update(buffer).digest('hex') };
}

export const eicarArtifact = (): Artifact => artifactOf(EICAR, 'text/plain');
export const benignArtifact = (): Artifact => artifactOf(BENIGN, 'text/plain');
export const pageArtifact = (): Artifact => artifactOf(PAGE, 'text/html');

const MIMETYPES: Record<string, string> = {
  txt: 'text/plain',
  html: 'text/html',
  htm: 'text/html',
  json: 'application/json',
  pdf: 'application/pdf',
  zip: 'application/zip',
  exe: 'application/x-dosexec',
  dll: 'application/x-dosexec',
  js: 'text/javascript',
  sh: 'text/x-shellscript',
  png: 'image/png',
  jpg: 'image/jpeg',
  gif: 'image/gif',
};

/**
 * A mimetype for a user's file: by magic bytes for the common executable and archive formats (what an engine
 * dispatches on), else by extension, else text/plain for valid UTF-8 text, else application/octet-stream.
 */
export function guessMimetype(bytes: Uint8Array, name = ''): string {
  const head = Buffer.from(bytes.subarray(0, 8));
  if (head.subarray(0, 2).toString('latin1') === 'MZ') return 'application/x-dosexec';
  if (head.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) return 'application/x-executable';
  if (head.subarray(0, 4).toString('latin1') === 'PK\u0003\u0004') return 'application/zip';
  if (head.subarray(0, 5).toString('latin1') === '%PDF-') return 'application/pdf';
  const ext = /\.([a-z0-9]+)$/i.exec(name)?.[1]?.toLowerCase();
  if (ext && MIMETYPES[ext]) return MIMETYPES[ext];
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return 'text/plain';
  } catch {
    return 'application/octet-stream';
  }
}
