"""Marketing campaigns: an audience over ClickHouse, a template, a schedule and guardrails."""
