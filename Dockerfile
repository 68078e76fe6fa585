# trim: one image for the web app and the worker.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN pip install --no-cache-dir uv
# WeasyPrint (the board's report as PDF) needs Pango, HarfBuzz's subsetter and a font.
RUN apt-get update && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
RUN uv sync --frozen --no-dev && useradd --system --uid 10001 trim && chown -R trim /app \
    && mkdir -p /var/lib/trim-anchors && chown trim /var/lib/trim-anchors
USER trim
ENV PATH="/app/.venv/bin:$PATH"
EXPOSE 8000
CMD ["trim", "run", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
