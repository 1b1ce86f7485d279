"""The rules language: parse, check and compile programmes, then decide transactions."""
