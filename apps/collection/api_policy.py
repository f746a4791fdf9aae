"""GET /api/v1/policy/ for everyone signed in; PATCH for maintainers."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import roles
from apps.collection.models import POLICY_LIMITS, CollectionPolicy
from apps.collection.policy import current_policy, policy_update
from apps.core.api import NumberField, refuses_unknown_query
from apps.core.fields import RefusesUnknownFields, StrictIntegerField
from apps.core.schema import WRITE_ERRORS, errors


class MaintainersWrite(BasePermission):
    message = _("Only maintainers may change the collection policy.")
    # Reads pass whoever asks: apps.core.autoschema documents them as open to anyone.
    anonymous_reads = True

    def has_permission(self, request: Any, view: Any) -> bool:
        return request.method in SAFE_METHODS or roles.is_maintainer(request.user)


class PolicySerializer(RefusesUnknownFields, serializers.ModelSerializer[CollectionPolicy]):
    acceptance_threshold = NumberField(min_value=0.0, max_value=1.0, required=False)

    class Meta:
        model = CollectionPolicy
        exclude = ["id"]
        read_only_fields = ["updated_at"]

    def build_standard_field(
        self, field_name: str, model_field: Any
    ) -> tuple[type, dict[str, Any]]:
        # Every count is a JSON integer in its range (POLICY_LIMITS): DRF's own mapping would
        # take "3" and 3.0, and bound it by the database's column, not by what makes sense.
        if field_name in POLICY_LIMITS:
            low, high = POLICY_LIMITS[field_name]
            return StrictIntegerField, {"min_value": low, "max_value": high, "required": False}
        return super().build_standard_field(field_name, model_field)


class PolicyApi(APIView):
    permission_classes = [IsAuthenticated, MaintainersWrite]

    @extend_schema(responses={200: PolicySerializer, **errors(401)}, operation_id="policy_retrieve")
    @refuses_unknown_query
    def get(self, request: Request) -> Response:
        return Response(PolicySerializer(current_policy()).data)

    @extend_schema(
        request=PolicySerializer,
        responses={200: PolicySerializer, **errors(*WRITE_ERRORS)},
        operation_id="policy_partial_update",
    )
    def patch(self, request: Request) -> Response:
        payload = PolicySerializer(current_policy(), data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        policy = policy_update(changes=payload.validated_data)
        return Response(PolicySerializer(policy).data)
