"""/api/v1/releases/: everyone reads finished releases; maintainers cut, publish and rebuild
them."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import roles
from apps.accounts.selectors import request_user
from apps.core.api import (
    Conflict,
    NumberField,
    Pagination,
    SelfUrl,
    absolute_url,
    idempotent,
    located,
    refused_in_state,
    refuses_unknown_query,
    takes_no_body,
)
from apps.core.fields import RefusesUnknownFields, StrictBooleanField, StrictCharField
from apps.core.schema import (
    IDEMPOTENT_ERRORS,
    LOCATION,
    PAGE_ERRORS,
    PAGE_PARAMETERS,
    WRITE_ERRORS,
    documented_json,
    errors,
    paginated,
)
from apps.releases import selectors, services
from apps.releases.models import (
    BUILD_STALE,
    DEFAULT_TEST_SHARE,
    PUBLISH_STALE,
    PublishState,
    Release,
    ReleaseState,
)


class MaintainersWrite(BasePermission):
    message = _("Only maintainers may cut, publish or rebuild releases.")
    # Reads pass whoever asks: apps.core.autoschema documents them as open to anyone.
    anonymous_reads = True

    def has_permission(self, request: Any, view: Any) -> bool:
        return request.method in SAFE_METHODS or roles.is_maintainer(request.user)


_NAMES = {"type": "array", "items": {"type": "string"}}
_ROWS_BY_SPLIT = {"type": "object", "additionalProperties": {"type": "integer"}}
ReleaseFiles = documented_json(
    "ReleaseFiles",
    {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "path": {
                    "type": "string",
                    "description": "As in downloads, e.g. dolly/train.jsonl.",
                },
                "bytes": {"type": "integer"},
                "sha256": {"type": "string", "description": "Hex digest of the file's bytes."},
            },
            "required": ["path", "bytes", "sha256"],
        },
        "description": "The release's files (those downloads links), each with its size and "
        "SHA-256; empty until it is built.",
    },
)
ReleaseFilterJson = documented_json(
    "ReleaseFilterJson",
    {
        "type": "object",
        "properties": {
            "languages": {**_NAMES, "description": "BCP-47 tags; empty: every language."},
            "categories": {**_NAMES, "description": "Category codes; empty: every category."},
            "min_agreement": {"type": ["number", "null"]},
            "include_model_written": {"type": "boolean"},
            "test_share": {"type": "number"},
        },
        "description": "What the release was cut with (a release cut before a field existed "
        "lacks it).",
    },
)
ReleaseCounts = documented_json(
    "ReleaseCounts",
    {
        "type": "object",
        "properties": {
            "rows": {
                "type": "object",
                "additionalProperties": _ROWS_BY_SPLIT,
                "description": "Rows per config (sft, preferences, …) and split (train, test).",
            },
            "contributors": {"type": "integer"},
        },
        "description": "What the build counted: rows, split_prompts, bytes and file_bytes "
        "(sizes per config), categories and languages (prompts and sft rows of each), "
        "contributors, agreement (mean and median over the ranked prompts), licences, "
        "prompt_licences and sources. Empty until it is built; a release built by an older "
        "Hearth may lack some.",
    },
)
ReleaseChanges = documented_json(
    "ReleaseChanges",
    {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "properties": {
                "added": {"type": "integer"},
                "removed": {"type": "integer"},
                "changed": {
                    "type": "integer",
                    "description": "Rows kept whose content changed; absent when the previous "
                    "release kept no digests.",
                },
            },
            "required": ["added", "removed"],
        },
        "description": "Per config, the rows added, removed and changed since previous; "
        "empty without a previous release.",
    },
)


class ReleaseOut(serializers.ModelSerializer[Release]):
    """A release. ``content_hash`` covers every file, ``data_hash`` the data files alone (the
    same for two versions that hold the same rows; empty for one built before it was kept);
    ``files`` gives each file's size and sha256. ``previous`` is the latest earlier release
    cut with the same filter, which ``changes`` (rows ``added``, ``removed`` and, for releases
    whose previous one kept digests, ``changed``) compare with; null when there is none.
    ``publish_state`` says where it stands with the Hub (``unpublished``, ``publishing``,
    ``published`` or ``failed``); ``publish_error`` why the last publish failed (while
    publishing: why a try is being repeated), for maintainers only (empty for others, as it
    names the deployment's settings)."""

    # Give it context={"request": …} for its url and downloads.

    url = SelfUrl("release-detail", "version", lookup_field="version")
    filter = ReleaseFilterJson(read_only=True)
    counts = ReleaseCounts(read_only=True)
    changes = ReleaseChanges(read_only=True)
    files = ReleaseFiles(read_only=True)
    downloads = serializers.SerializerMethodField()
    previous = serializers.CharField(source="previous.version", default=None, allow_null=True)
    publish_error = serializers.SerializerMethodField()

    class Meta:
        model = Release
        fields = [
            "version", "url", "state", "error", "created_at", "finished_at", "published_at", "filter",
            "counts", "changes", "content_hash", "data_hash", "files", "downloads", "progress_done",
            "progress_total", "previous", "hub_repo", "hub_revision", "publish_state",
            "publish_error", "publish_requested_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_publish_error(self, release: Release) -> str:
        request = self.context.get("request")
        if request is None or not roles.is_maintainer(request.user):
            return ""
        return release.publish_error_shown

    def get_downloads(self, release: Release) -> dict[str, str]:
        if not release.is_finished:
            return {}
        return {
            entry["path"]: absolute_url(
                self.context, reverse("releases:file", args=[release.version, entry["path"]])
            )
            for entry in release.files
        }


class ReleasesApi(APIView):
    permission_classes = [MaintainersWrite]

    class ReleaseCreateIn(RefusesUnknownFields):
        languages = serializers.ListField(
            child=StrictCharField(allow_blank=False, trim_whitespace=True), required=False
        )
        categories = serializers.ListField(
            child=StrictCharField(allow_blank=False, trim_whitespace=True), required=False
        )
        min_agreement = NumberField(required=False, allow_null=True)
        include_model_written = StrictBooleanField(required=False)
        test_share = NumberField(
            required=False,
            help_text=(
                "The share of the prompts released for the first time that go to the test "
                "split, above 0 and at most 0.5; prompts released before keep their split. "
                "Left out: the share the Releases page's form suggests (its starting value), "
                f"which is {DEFAULT_TEST_SHARE} unless the test split is small: then higher, so "
                "that about ten prompts, at least one of them ranked, land in test."
            ),
        )

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(ReleaseOut), **errors(401, *PAGE_ERRORS)},
        operation_id="releases_list",
    )
    @refuses_unknown_query
    def get(self, request: Request) -> Response:
        paginator = Pagination()
        page = paginator.paginate_queryset(
            selectors.release_list(user=request.user), request, view=self
        )
        return paginator.get_paginated_response(
            ReleaseOut(page, many=True, context={"request": request}).data
        )

    @extend_schema(
        request=ReleaseCreateIn,
        responses={201: ReleaseOut, **errors(*WRITE_ERRORS, *IDEMPOTENT_ERRORS)},
        parameters=[LOCATION],
        operation_id="releases_create",
    )
    @idempotent
    def post(self, request: Request) -> Response:
        payload = self.ReleaseCreateIn(data=request.data)
        payload.is_valid(raise_exception=True)
        fields = dict(payload.validated_data)
        if "test_share" not in fields:
            # As the form starts it: 0.05 gave a small collection a test split of one or two
            # prompts, or none, where the form suggested more.
            fields["test_share"] = selectors.suggested_test_share_shown()
        try:
            release = services.release_create(user=request_user(request), **fields)
        except PermissionDenied as exc:
            raise exceptions.PermissionDenied(str(exc)) from None
        # As it is now: once committed, a build the broker refused has marked the row failed
        # (operator QA: the answer said "building" for a release already failed).
        release.refresh_from_db()
        return Response(
            ReleaseOut(release, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


class ReleaseDetailApi(APIView):
    permission_classes: list[type[BasePermission]] = []

    @extend_schema(
        responses={200: ReleaseOut, **errors(401, 404)}, operation_id="releases_retrieve"
    )
    @refuses_unknown_query
    def get(self, request: Request, version: str) -> Response:
        try:
            release = selectors.release_get_for_user(user=request.user, version=version)
        except Release.DoesNotExist:
            raise exceptions.NotFound() from None
        return Response(ReleaseOut(release, context={"request": request}).data)


class ReleasePublishApi(APIView):
    permission_classes = [IsAuthenticated, MaintainersWrite]

    # 409: the release is not ready, publishing is not configured, or it is being published
    # already.
    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(ReleaseOut, "Published already: nothing was queued."),
            202: OpenApiResponse(ReleaseOut, "Publishing was queued."),
            **errors(*WRITE_ERRORS, 404, 409),
        },
        parameters=[LOCATION],
        operation_id="releases_publish",
        description=(
            "Queue the release's publishing to the Hub: 202. Its `publish_state` is "
            "`publishing` until the exports worker has published it (`published`) or given up "
            "(`failed`, with `publish_error`). Once it is published, asking again queues "
            "nothing and answers 200 with the release; while it is being published, 409 says "
            "so and when asking again will queue it again (a publish asked for "
            f"{int(PUBLISH_STALE.total_seconds() // 60)} minutes ago and not done). After a "
            "failure it tries again, and never makes a second Hub commit for the same release. "
            "A release that is not ready (building or failed) is 409, as is publishing while "
            "it is off."
        ),
    )
    @takes_no_body
    def post(self, request: Request, version: str) -> Response:
        if not roles.is_maintainer(request.user):
            raise exceptions.PermissionDenied(_("Only maintainers may publish releases."))
        try:
            release = selectors.release_get_for_user(user=request.user, version=version)
        except Release.DoesNotExist:
            raise exceptions.NotFound() from None
        if release.state not in (ReleaseState.READY, ReleaseState.PUBLISHED):
            raise Conflict(
                _("Release %(version)s is in state “%(state)s”; only a ready release is published.")
                % {"version": version, "state": release.get_state_display()}
            )
        try:
            queued = services.release_publish_enqueue(release=release)
        except services.PublishingUnavailable as exc:
            raise Conflict(str(exc)) from None
        if not queued and release.publish_state != PublishState.PUBLISHED:
            raise Conflict(services.release_publish_refusal(release=release))
        return located(
            Response(
                ReleaseOut(release, context={"request": request}).data,
                status=status.HTTP_202_ACCEPTED if queued else status.HTTP_200_OK,
            )
        )


class ReleaseRebuildApi(APIView):
    permission_classes = [IsAuthenticated, MaintainersWrite]

    @extend_schema(
        request=None,
        responses={202: ReleaseOut, **errors(*WRITE_ERRORS, *IDEMPOTENT_ERRORS, 404, 409)},
        parameters=[LOCATION],
        operation_id="releases_rebuild",
        description=(
            "Build a failed release again, or one whose build has made no progress for "
            f"{int(BUILD_STALE.total_seconds() // 60)} minutes (its worker died; a running "
            "build reports progress every few seconds) (maintainers). 202 with the release, "
            "now building. Asked again while it builds, it queues nothing and answers 409, "
            "saying when it last made progress (with the same Idempotency-Key, the first "
            "202 again); a release that is ready or published is 409 too."
        ),
    )
    @takes_no_body
    @idempotent
    def post(self, request: Request, version: str) -> Response:
        try:
            release = selectors.release_get_for_user(user=request.user, version=version)
        except Release.DoesNotExist:
            raise exceptions.NotFound() from None
        try:
            with refused_in_state():
                release, queued = services.release_rebuild_failed(
                    user=request_user(request), release=release
                )
        except PermissionDenied as exc:
            raise exceptions.PermissionDenied(str(exc)) from None
        if not queued:
            raise Conflict(services.release_rebuild_refusal(release=release))
        return Response(
            ReleaseOut(release, context={"request": request}).data,
            status=status.HTTP_202_ACCEPTED,
        )
