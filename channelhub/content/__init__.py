"""Publishing content's I/O: the texts in use as seed records, and reading and writing
``channel.content`` for the ``channelhub content`` commands. The rules are
:mod:`orchestration.content`."""
