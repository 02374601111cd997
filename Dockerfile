# One image for every channelhub service; docker-compose.yml picks the command.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 channelhub
WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml constraints.txt README.md* ./
RUN mkdir channelhub && touch channelhub/__init__.py \
    && pip install -c constraints.txt . && pip uninstall -y channelhub && rm -rf channelhub build *.egg-info

COPY kernel ./kernel
COPY channelhub ./channelhub
COPY schemas ./schemas
COPY streams ./streams
COPY sinks ./sinks
COPY dashboards ./dashboards
COPY orchestration ./orchestration
RUN pip install --no-deps . && rm -rf build *.egg-info

USER channelhub
CMD ["channelhub", "--help"]
