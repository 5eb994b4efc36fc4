/*
  The `meta:` fields src/scan.ts reads from a rule that matches. All are optional:

    verdict     "malicious" (the default) or "suspicious": worth a look, but no claim (a suspicious answer bids 0).
    family      the answer's malware_family; without it, the rule's name.
    confidence  0 to 1: how sure a match makes you. The bid follows it (the default bid is
                min + confidence x (max - min)); without it, a match is taken as certain (1).

  Other meta fields (author, description, reference, ...) are yours: the engine ignores them.
  When several rules match, a malicious one wins over a suspicious one, then the most confident.
*/

// A PowerShell "download cradle": a script that fetches and runs more code from the web. Admin scripts do this
// too, so a match is worth a look, not a claim.
rule PowerShell_Download_Cradle
{
    meta:
        verdict = "suspicious"
        family = "PowerShell-Downloader"
        confidence = 0.4
        description = "PowerShell that downloads a string and runs it as code"

    strings:
        $download = "DownloadString(" ascii wide nocase
        $webclient = "Net.WebClient" ascii wide nocase
        $iex1 = "IEX" ascii wide nocase fullword
        $iex2 = "Invoke-Expression" ascii wide nocase

    condition:
        $download and $webclient and any of ($iex*)
}

// A Windows executable whose bytes carry a tell-tale ransom note: a claim, made with some doubt (confidence 0.8).
rule Ransom_Note_In_Executable
{
    meta:
        family = "Generic-Ransomware"
        confidence = 0.8
        description = "A PE file containing typical ransom-note sentences"

    strings:
        $note1 = "All your files have been encrypted" ascii wide nocase
        $note2 = "send bitcoin to" ascii wide nocase
        $note3 = "your personal decryption key" ascii wide nocase

    condition:
        // "MZ" at offset 0: the DOS header every Windows executable starts with.
        uint16(0) == 0x5A4D and 2 of ($note*)
}
