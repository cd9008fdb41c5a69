"""The question bank: questions and their code links, and the spaced-repetition quiz."""
