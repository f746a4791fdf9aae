# Hearth's web image. The same image runs the web server (the default command), the CPU
# Celery worker (queues default and exports) and Celery beat; see docker-compose.yml.
# No torch or transformers here: those live in Dockerfile.gpu for the gpu queue.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HEARTH_DATA_DIR=/data

RUN useradd --system --uid 1000 --user-group --create-home --home-dir /home/hearth hearth

WORKDIR /app

# Dependencies first, read from pyproject.toml, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
# Editable on purpose: settings find templates/ and static/ next to apps/ (BASE_DIR), so the
# code must run from /app, not from a copy in site-packages.
RUN pip install -e .

# Collect static files at build time (hashed and compressed by whitenoise). Settings need a
# SECRET_KEY to load: a throwaway one, given to this command only and never stored.
# STATIC_ROOT is /app/staticfiles, inside the image: the files belong to this code version.
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
        python manage.py collectstatic --noinput --verbosity 0 \
    && rm -rf "$HEARTH_DATA_DIR/broker" "$HEARTH_DATA_DIR/results" \
    && chown -R hearth:hearth "$HEARTH_DATA_DIR"

USER hearth
EXPOSE 8000

CMD ["gunicorn", "-c", "apps/gunicorn.conf.py", "apps.wsgi"]
