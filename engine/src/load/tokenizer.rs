//! Tokenizers placeholder (filled in with the CLI wiring).
