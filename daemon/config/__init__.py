"""Configuration: the YAML file, validated strictly, and the secrets beside it.

Receives: a YAML file path and the environment / ``$CREDENTIALS_DIRECTORY``.
Hands on: an immutable Config and Secrets to every stage; ConfigError lines naming the key.

Modules: ``models`` (pydantic models and loading), ``errors`` (error lines), ``endpoints``
(which OCR endpoints are valid), ``secrets`` (keys and passwords, never in the YAML).
"""
