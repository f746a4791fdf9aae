from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularSwaggerSplitView

from apps.core import views as core_views
from apps.core.schema import SchemaView

# Swagger UI under the site's Content-Security-Policy: its start-up script from its own URL
# (the split view) rather than inline, its page style from a stylesheet (the template), and
# the data: images its stylesheet draws icons with allowed on this page only.
api_docs = csp_update({"img-src": ["data:"]})(
    SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="core/swagger_ui.html")
)

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("system/", core_views.system, name="system"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    # set_language: the footer's language switcher posts here and gets the django_language cookie.
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include(("apps.api_urls", "api"), namespace="api")),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", api_docs, name="api-docs"),
    # Last under /api/: JSON 404s (DEBUG too), and a 308 for a path without its slash.
    re_path(r"^api/(?P<rest>.*)$", core_views.api_not_found, name="api-not-found"),
    path("", include("apps.accounts.urls")),
    path("", include("apps.collection.urls")),
    path("", include("apps.moderation.urls")),
    path("", include("apps.releases.urls")),
    path("", include("apps.assignments.urls")),
    path("", include("apps.training.urls")),
    path("", include("apps.community.urls")),
]

handler404 = "apps.core.views.page_not_found"
handler500 = "apps.core.views.server_error"
# allauth answers its own rate limits (sign-ins, sign-ups, resets) through this handler.
handler429 = "apps.accounts.views.rate_limited"
