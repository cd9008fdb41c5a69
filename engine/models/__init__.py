"""Model definitions and the Hugging Face directory loader."""
