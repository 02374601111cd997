"""Pure query functions: a clickhouse-driver client and a typed filter in, plain data out.

No Dash here, so each function is tested against a real ClickHouse without a browser. SQL is
constant text: values travel only as ``%(name)s`` parameters, and the only variable part of a
statement is which constant fragments are present.
"""
