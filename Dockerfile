# The Daily Papers bot: python -m bot run (long polling, or webhooks with WEBHOOK_URL).
FROM python:3.11-slim

# git: DIGEST_SOURCE may be a git repository.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 bot

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY config ./config
COPY seeds ./seeds
RUN pip install --no-cache-dir . \
    && mkdir -p /app/data && chown bot:bot /app/data

USER bot
ENV PYTHONUNBUFFERED=1 \
    BOT_DATA_DIR=/app/data \
    DATABASE_URL=sqlite:////app/data/bot.sqlite3
VOLUME ["/app/data"]
EXPOSE 8443
CMD ["python", "-m", "bot", "run"]
