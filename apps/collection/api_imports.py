"""/api/v1/imports/: maintainers upload a Dolly-format JSONL file, which the exports worker
imports in the background; they follow it, read its report, and resume one that stopped."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from apps.accounts.models import User
from apps.accounts.permissions import IsMaintainer
from apps.collection import import_jobs, importing
from apps.collection.models import Import
from apps.core.api import (
    Pagination,
    absolute_url,
    idempotent,
    refused_in_state,
    refuses_unknown_query,
    takes_no_body,
)
from apps.core.fields import ListedChoiceField, RefusesUnknownFields, StrictCharField
from apps.core.schema import (
    IDEMPOTENT_ERRORS,
    LOCATION,
    PAGE_ERRORS,
    PAGE_PARAMETERS,
    WRITE_ERRORS,
    errors,
    paginated,
)

# The origin recorded when an upload does not name its source.
DEFAULT_UPLOAD_SOURCE = "upload"

ReportOut = inline_serializer(
    name="ImportReport",
    fields={
        "imported": serializers.IntegerField(help_text=_("Lines whose prompt was created.")),
        "answers_added": serializers.IntegerField(
            help_text=_(
                "Lines whose prompt was in Hearth already, without their answer: the answer "
                "was added to it."
            )
        ),
        "duplicates": serializers.IntegerField(
            help_text=_("Lines whose prompt and answer were both in Hearth already.")
        ),
        "rejected": serializers.IntegerField(),
        "lines": serializers.ListField(
            help_text=_(
                "The file's non-blank lines in order, at most lines_listed_per_status of "
                "each status."
            ),
            child=inline_serializer(
                name="ImportLine",
                fields={
                    "line": serializers.IntegerField(),
                    "status": ListedChoiceField(choices=list(importing.LINE_STATUSES)),
                    "prompt_id": serializers.IntegerField(required=False),
                    "errors": serializers.DictField(
                        child=serializers.ListField(child=serializers.CharField()),
                        required=False,
                    ),
                },
            ),
        ),
        "lines_truncated": serializers.BooleanField(
            help_text=_("True when lines leaves out some of the lines counted.")
        ),
        "lines_omitted": serializers.IntegerField(
            help_text=_("How many of the lines counted are not in lines; 0 when all are.")
        ),
        "lines_listed_per_status": serializers.IntegerField(
            help_text=_(
                "How many lines of each status (imported, answer_added, duplicate, rejected) "
                "lines lists at most: the first ones in the file."
            )
        ),
    },
)


class ImportOptionsOut(serializers.Serializer[dict[str, str]]):
    # Serializer fields are popped off the class, so this does not shadow Field.source.
    source = serializers.CharField()  # type: ignore[assignment]
    licence = serializers.CharField()
    language = serializers.CharField()
    state = ListedChoiceField(choices=sorted(importing.IMPORT_STATES))


class ImportOut(serializers.ModelSerializer[Import]):
    """An import. ``status`` is ``queued`` (waiting for the exports worker), ``running``,
    ``done`` or ``failed`` (``error`` says why; resume it, or discard it: ``discarded_at``). ``stalled``: queued or running but
    nothing committed for five minutes, its worker lost; resume it. ``file_kept_until``: for
    a failed or stalled import, when it is discarded unless it moves before (it keeps its
    file for HEARTH_IMPORT_KEEP_DAYS after it last moved). ``bytes_done`` of
    ``file_size`` have been read and committed, and ``report`` counts and lists the lines
    committed so far: the whole file's once ``status`` is ``done``."""

    # Give it context={"request": …} for its url.

    url = serializers.SerializerMethodField()
    created_by = serializers.CharField(
        source="created_by.public_name", default=None, allow_null=True
    )
    options = ImportOptionsOut()
    stalled = serializers.SerializerMethodField()
    file_kept_until = serializers.SerializerMethodField()
    report = serializers.SerializerMethodField()

    class Meta:
        model = Import
        fields = [
            "id", "url", "status", "error", "stalled", "file_name", "file_size", "bytes_done",
            "lines_read", "options", "created_by", "created_at", "started_at", "finished_at",
            "file_kept_until", "discarded_at", "report",
        ]  # fmt: skip
        read_only_fields = fields
        extra_kwargs = {
            "lines_read": {
                "help_text": "Lines read and committed so far, blank lines included: those are "
                "skipped and counted in no outcome of the report."
            }
        }

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, job: Import) -> str:
        return absolute_url(self.context, reverse("api:import-detail", args=[job.pk]))

    def get_stalled(self, job: Import) -> bool:
        return import_jobs.is_stalled(job)

    def get_file_kept_until(self, job: Import) -> datetime | None:
        return import_jobs.file_kept_until(job)

    @extend_schema_field(ReportOut)
    def get_report(self, job: Import) -> dict[str, Any]:
        return import_jobs.report_of(job).as_dict()


class ImportSummaryOut(ImportOut):
    """An import as the list gives it: its counts so far, not its report's lines (its
    ``url`` has them), so that a page of imports stays small."""

    report = None  # type: ignore[assignment]

    class Meta(ImportOut.Meta):
        fields = [
            *(name for name in ImportOut.Meta.fields if name != "report"),
            "imported", "answers_added", "duplicates", "rejected",
        ]  # fmt: skip
        read_only_fields = fields


def _import_or_404(import_id: int) -> Import:
    try:
        return Import.objects.select_related("created_by").get(pk=import_id)
    except Import.DoesNotExist:
        raise exceptions.NotFound() from None


def _answer(job: Import, request: Request, code: int = status.HTTP_200_OK) -> ApiResponse:
    # Its Location, on a 202, is set by @idempotent (apps.core.api.located), as every other.
    return ApiResponse(ImportOut(job, context={"request": request}).data, status=code)


class ImportsApi(APIView):
    """Maintainers list imports (newest first) and send a file to import."""

    permission_classes = [IsAuthenticated, IsMaintainer]
    parser_classes = [MultiPartParser, FormParser]

    class ImportIn(RefusesUnknownFields):
        file = serializers.FileField(
            allow_empty_file=True,
            help_text=_(
                "JSONL: instruction, context, response, category; optionally language, and "
                "licence, origin, prompt_licence and prompt_origin in place of the options."
            ),
        )
        # Serializer fields are popped off the class, so this does not shadow Field.source.
        source = StrictCharField(required=False, default=DEFAULT_UPLOAD_SOURCE)  # type: ignore[assignment]
        licence = StrictCharField(required=False, default="")
        language = StrictCharField(required=False, default="en")
        state = ListedChoiceField(
            choices=sorted(importing.IMPORT_STATES), required=False, default="accepted"
        )

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(ImportSummaryOut), **errors(401, 403, *PAGE_ERRORS)},
        operation_id="imports_list",
    )
    @refuses_unknown_query
    def get(self, request: Request) -> ApiResponse:
        paginator = Pagination()
        page = paginator.paginate_queryset(
            Import.objects.select_related("created_by").defer("listed"), request, view=self
        )
        return paginator.get_paginated_response(
            ImportSummaryOut(page, many=True, context={"request": request}).data
        )

    @extend_schema(
        request={"multipart/form-data": ImportIn},
        responses={202: ImportOut, **errors(*WRITE_ERRORS, *IDEMPOTENT_ERRORS)},
        parameters=[LOCATION],
        operation_id="imports_create",
        description=(
            "Send a JSONL file to import; every line goes through the Write form's checks. "
            "202 with the import, queued for the exports worker, and its URL in Location: "
            "follow it there until `status` is `done`. Its report counts every non-blank line "
            "as imported, answer_added, duplicate or rejected, and lists the first "
            "`lines_listed_per_status` lines of each status: an imported line with the new "
            "prompt's id; a line whose prompt was already in Hearth without its answer "
            "(answer_added: a prompt's further answers are further lines) with the id of the "
            "prompt its answer was added to; a duplicate (prompt and answer both there) with "
            "the id of the prompt already in Hearth; a rejected one with the reasons. A line's "
            "licence, origin, prompt_licence and prompt_origin, where it has them, take the "
            "place of the options for its answer and its prompt; a bad one rejects the line. "
            "Each line is imported or not on its own. A file that is empty, larger than the "
            "site takes, "
            "not UTF-8 text, or not JSON objects with Dolly's fields at its first line is "
            "refused with 400 and nothing is queued."
        ),
    )
    @idempotent
    def post(self, request: Request) -> ApiResponse:
        # A form with a field twice would give the serializer the last file alone: the others
        # would go unimported under a 202.
        files = len(request.FILES.getlist("file"))
        if files > 1:
            raise serializers.ValidationError(
                {
                    "file": [
                        gettext("Send one file at a time: this request has %(count)d.")
                        % {"count": files}
                    ]
                }
            )
        payload = self.ImportIn(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        options = importing.check_import_options(
            source=data["source"],
            licence=data["licence"],
            language=data["language"],
            state=data["state"],
        )
        upload = data["file"]
        # A file that is not Dolly JSONL at all (empty, not UTF-8, another format) is refused
        # here, as on the Import page; a later bad line is rejected in the report.
        importing.check_upload(upload, size=upload.size)
        job = import_jobs.import_start(
            author=cast(User, request.user),  # IsMaintainer let in only signed-in users
            upload=upload,
            options=options,
        )
        return _answer(job, request, status.HTTP_202_ACCEPTED)


class ImportDetailApi(APIView):
    permission_classes = [IsAuthenticated, IsMaintainer]

    @extend_schema(
        responses={200: ImportOut, **errors(401, 403, 404)}, operation_id="imports_retrieve"
    )
    @refuses_unknown_query
    def get(self, request: Request, import_id: int) -> ApiResponse:
        return _answer(_import_or_404(import_id), request)


class ImportResumeApi(APIView):
    permission_classes = [IsAuthenticated, IsMaintainer]

    @extend_schema(
        request=None,
        responses={202: ImportOut, **errors(*WRITE_ERRORS, *IDEMPOTENT_ERRORS, 404, 409)},
        parameters=[LOCATION],
        operation_id="imports_resume",
        description=(
            "Send a failed or stalled import to the exports worker again (maintainers): it goes "
            "on from the first line not yet committed, and its report from where it stood, so "
            "no line is imported or counted twice. 202 with the import, queued. Asked while it "
            "is still moving, it answers 202 and queues nothing; an import that is done, or whose "
            "file is no longer on the server, is 409."
        ),
    )
    @takes_no_body
    @idempotent
    def post(self, request: Request, import_id: int) -> ApiResponse:
        job = _import_or_404(import_id)
        with refused_in_state():
            job, _sent = import_jobs.import_resume(job)
        return _answer(job, request, status.HTTP_202_ACCEPTED)


class ImportDiscardApi(APIView):
    permission_classes = [IsAuthenticated, IsMaintainer]

    @extend_schema(
        request=None,
        responses={200: ImportOut, **errors(*WRITE_ERRORS, *IDEMPOTENT_ERRORS, 404, 409)},
        operation_id="imports_discard",
        description=(
            "Give up on a failed or stalled import (maintainers): it stays failed, with "
            "`discarded_at` set, and its uploaded file is removed from the server. The lines "
            "committed before it stopped stay in Hearth. Asked again, it answers the same; an "
            "import that is done or still moving is 409."
        ),
    )
    @takes_no_body
    @idempotent
    def post(self, request: Request, import_id: int) -> ApiResponse:
        job = _import_or_404(import_id)
        with refused_in_state():
            job = import_jobs.import_discard(job)
        return _answer(job, request)
