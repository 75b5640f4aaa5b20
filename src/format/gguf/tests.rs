//! Unit tests of the GGUF reader.
