"""THUDM ChatGLM folders loaded natively (no remote code): tokenizers, ChatGLM-6B, ChatGLM2/3 via GLM."""
