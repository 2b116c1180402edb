// Forensics: titles, symbolization, locks, diff, redaction, rendering.
