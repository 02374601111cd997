"""The service catalogue's I/O: today's catalogue as seed records, and reading and writing
``channel.catalogue`` for the ``channelhub service`` commands. The rules are
:mod:`orchestration.catalogue`."""
