/** The inspector's and the recorder's defaults; imports nothing, so the command declarations can show them in --help. */
export const DEFAULT_INSPECTOR_PORT = 4040;
/** History the inspector keeps, in bytes (`--inspector-history`). */
export const DEFAULT_HISTORY_BYTES = 32 * 1024 * 1024;
/** A recording's size before it is rotated to FILE.1 (`--record-max-bytes`). */
export const DEFAULT_RECORD_MAX_BYTES = 256 * 1024 * 1024;
