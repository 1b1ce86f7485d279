"""Generated protobuf and gRPC code of the ``tessera.v1`` API (``make proto``; do not edit).

The sources are ``proto/tessera/v1/*.proto``; the generated modules are committed so that a
fresh clone needs no protoc.
"""
