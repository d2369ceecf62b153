"""Compliance pages: a preparation's completeness card on its tube page and its full report,
a study's table of preparations (sortable, filterable, exported as CSV or XLSX) and the rule
catalogue with its versions (staff edit rules; every edit is a new version).

Every page asks the engine for its reports in one ``evaluate_preparations`` call, which
reads rules and facts in a fixed number of queries; what the pages add is one query for
the preparations' own rows. Scoping is the study's: a preparation or study the user cannot
see is a 404, and a rule is lab-wide (any signed-in user reads it, staff change it).
"""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from exolims.renderers import rows_to_csv
from samples.choices import AliquotKind, Role
from samples.models import Aliquot, Study
from samples.views.common import has_role

from ..choices import ComplianceSeverity, NomenclatureTerm, RuleStatus
from ..compliance.checks import CHECKS, PROFILES
from ..compliance.engine import PreparationReport, RuleResult, evaluate_preparations
from ..compliance.rules import new_rule_version, set_rule_active
from ..models import ComplianceRule, EVPreparation
from ..plots import scientific

STATUS_ORDER = {"fail": 0, "warn": 1, "pass": 2, "na": 3}
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
STATUS_LABELS = dict(RuleStatus.choices)
SEVERITY_LABELS = dict(ComplianceSeverity.choices)
TERM_LABELS = dict(NomenclatureTerm.choices)
STUDY_PAGE_SIZE = 100

# fix_kind → (link text, the form's URL name, what the form is told about the preparation).
# The upload page takes the tube's accession; the record forms take the tube's id.
FIX_FORMS: dict[str, tuple[str, str, str]] = {
    "particles": ("Upload particle data", "assays:file-upload", "accession"),
    "protein": ("Add protein result", "assays:protein-create", "aliquot"),
    "marker": ("Add marker result", "assays:marker-result-create", "aliquot"),
    "imaging": ("Add imaging record", "assays:imaging-create", "aliquot"),
    "flow": ("Upload flow file", "assays:file-upload", "accession"),
    "dls": ("Add DLS result", "assays:dls-create", "aliquot"),
    "sample": ("Edit the sample", "samples:sample-edit", "sample"),
    "run": ("Open the run", "assays:run-detail", "run"),
}


# --- Presenting a report ----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The records a preparation's fix links point at: its tube, sample and run."""

    aliquot_id: int
    accession: str
    sample_id: int | None
    run_id: int

    @classmethod
    def of(cls, preparation: EVPreparation) -> Target:
        aliquot = preparation.aliquot
        return cls(aliquot.pk, aliquot.accession, aliquot.sample_id, preparation.run_id)


def fix_link(fix_kind: str, target: Target) -> dict[str, Any] | None:
    """Where to add what a failed rule misses: the form for ``fix_kind``, aimed at the
    preparation's tube (or its sample or run). None for an unknown kind, or while the form's
    page is not installed."""
    entry = FIX_FORMS.get(fix_kind)
    if entry is None:
        return None
    label, url_name, passes = entry
    try:
        if passes == "sample":
            if target.sample_id is None:
                return None
            url = reverse(url_name, args=[target.sample_id])
        elif passes == "run":
            url = reverse(url_name, args=[target.run_id])
        else:
            value = target.accession if passes == "accession" else target.aliquot_id
            url = f"{reverse(url_name)}?{urlencode({'aliquot': value})}"
    except NoReverseMatch:
        return None
    # Opening the run is reading; every other fix records something.
    return {"label": label, "url": url, "kind": fix_kind, "records": passes != "run"}


def evidence_link(evidence: Any) -> dict[str, Any]:
    url = None
    if evidence.url_name:
        try:
            url = reverse(evidence.url_name, args=[evidence.id])
        except NoReverseMatch:
            url = None  # that kind of record has no page (yet): show its label only
    return {"kind": evidence.kind, "label": evidence.label, "url": url}


def result_row(result: RuleResult, target: Target, *, can_edit: bool) -> dict[str, Any]:
    link = fix_link(result.fix_kind, target) if result.status in ("fail", "warn") else None
    if link is not None and link["records"] and not can_edit:
        link = None
    return {
        "code": result.code,
        "version": result.version,
        "title": result.title,
        "severity": result.severity,
        "status": result.status,
        "status_label": STATUS_LABELS.get(result.status, result.status),
        "severity_label": SEVERITY_LABELS.get(result.severity, result.severity),
        "message": result.message,
        "explanation": result.explanation,
        "source": result.source,
        "fix_hint": result.fix_hint,
        "fix": link,
        "evidence": [evidence_link(e) for e in result.evidence],
        "profiles": result.profiles,
        "scored": result.scored,
    }


def score_text(score: Any) -> str:
    if score is None or score.pct is None:
        return "n/a"
    return f"{score.pct:.0f}% ({score.passed}/{score.applicable})"


def status_counts(report: PreparationReport) -> dict[str, int]:
    counts = Counter(r.status for r in report.results)
    return {status: counts.get(status, 0) for status in STATUS_ORDER}


def report_context(report: PreparationReport, target: Target, *, can_edit: bool) -> dict[str, Any]:
    """What the card and the full page show of one report."""
    purity = report.purity
    return {
        "report": report,
        "profile": report.profile,
        "score": report.scores.get(report.profile),
        "evmetric": report.evmetric,
        # A source-specific profile none of whose rules applies (urine for a plasma
        # preparation) says nothing about this preparation: left out.
        "companion_scores": [
            (name, score)
            for name, score in report.scores.items()
            if name not in (report.profile, "EV-METRIC") and score.applicable
        ],
        "counts": status_counts(report),
        "next_steps": [result_row(r, target, can_edit=can_edit) for r in report.next_steps],
        "flags": [result_row(r, target, can_edit=can_edit) for r in report.flags],
        "purity": purity,
        "purity_text": scientific(purity.particles_per_ug) if purity else "",
        "purity_links": _purity_links(purity),
        "recovery_text": scientific(report.recovery_particles_per_ml_input),
        "target": target,
        "report_links": report_links(report.preparation_id),
    }


# The preparation's methods text and EV-TRACK record (assays/urls_reporting.py).
REPORT_LINKS = (
    ("Methods text", "assays:methods-preparation"),
    ("EV-TRACK JSON", "assays:evtrack-json"),
    ("EV-TRACK CSV", "assays:evtrack-csv"),
)


def report_links(preparation_id: int) -> list[dict[str, str]]:
    """Links to what the preparation's records give for a paper: its methods paragraph
    and its EV-TRACK record (pages not installed are left out)."""
    links = []
    for label, url_name in REPORT_LINKS:
        try:
            links.append({"label": label, "url": reverse(url_name, args=[preparation_id])})
        except NoReverseMatch:
            continue
    return links


def _purity_links(purity: Any) -> list[dict[str, Any]]:
    if purity is None:
        return []
    links = []
    for label, url_name, pk in (
        ("particles", "assays:particle-detail", purity.particle_measurement_id),
        ("protein", "assays:protein-detail", purity.protein_measurement_id),
    ):
        try:
            links.append({"label": label, "url": reverse(url_name, args=[pk])})
        except NoReverseMatch:
            links.append({"label": label, "url": None})
    return links


def _profile_choice(request: HttpRequest) -> str | None:
    profile = request.GET.get("profile") or None
    return profile if profile in PROFILES else None


# --- The tube page's card ----------------------------------------------------------------------


def compliance_panel(*, request: HttpRequest, aliquot: Aliquot, role: str | None) -> str:
    """On an EV preparation's tube page: how complete its report is for the study's
    profile and EV-METRIC, the failed rules (errors first) each with what to add next and a
    link to the form that adds it, plausibility flags, purity and recovery."""
    if aliquot.kind != AliquotKind.EV_PREPARATION:
        return ""  # no query for the tubes that are not preparations
    preparation = (
        EVPreparation.objects.visible_to(request.user)
        .filter(aliquot=aliquot)
        .only("id", "run_id", "aliquot_id")
        .first()
    )
    if preparation is None:
        return ""
    preparation.aliquot = aliquot
    report = evaluate_preparations([preparation.pk]).get(preparation.pk)
    if report is None:
        return ""
    context = report_context(report, Target.of(preparation), can_edit=has_role(role, Role.EDITOR))
    context["preparation"] = preparation
    return render_to_string("assays/compliance/panel.html", context, request=request)


compliance_panel.panel_title = "Reporting completeness"


# --- A preparation's full report -----------------------------------------------------------


@login_required
@require_GET
def preparation_compliance(request: HttpRequest, pk: int) -> HttpResponse:
    """Every rule in scope for one preparation, failed first, with scores per profile."""
    preparation = get_object_or_404(
        EVPreparation.objects.visible_to(request.user).select_related(
            "aliquot", "run__study", "run__protocol_version__protocol"
        ),
        pk=pk,
    )
    study = preparation.run.study
    role = study.role_of(request.user)
    profile = _profile_choice(request)
    report = evaluate_preparations([preparation.pk], profile=profile)[preparation.pk]
    target = Target.of(preparation)
    can_edit = has_role(role, Role.EDITOR)
    results = sorted(
        report.results,
        key=lambda r: (
            STATUS_ORDER.get(r.status, 9),
            SEVERITY_ORDER.get(r.severity, 9),
            r.code,
        ),
    )
    context = report_context(report, target, can_edit=can_edit)
    context.update(
        section="tubes",
        preparation=preparation,
        study=study,
        results=[result_row(r, target, can_edit=can_edit) for r in results],
        profiles=PROFILES,
        chosen_profile=profile or "",
        can_manage=has_role(role, Role.MANAGER),
    )
    return render(request, "assays/compliance/preparation.html", context)


# --- A study's table of preparations -----------------------------------------------------------

STATUS_FILTERS = (
    ("", "Any"),
    ("errors", "Has failed errors"),
    ("no_errors", "No failed errors"),
    ("warnings", "Has warnings"),
    ("complete", "No failed errors or warnings"),
)
SORTS = {
    "accession": "Tube",
    "protocol": "Protocol",
    "started": "Run started",
    "score": "Score",
    "evmetric": "EV-METRIC",
    "purity": "Purity",
    "recovery": "Recovery",
    "errors": "Errors",
    "warnings": "Warnings",
}
EXPORT_FIELDS = [
    "accession",
    "nomenclature_term",
    "author_term",
    "protocol",
    "protocol_version",
    "run_id",
    "run_started_at",
    "profile",
    "score_pct",
    "score_passed",
    "score_applicable",
    "evmetric_pct",
    "evmetric_passed",
    "evmetric_applicable",
    "purity_particles_per_ug",
    "purity_band",
    "recovery_particles_per_ml_input",
    "failed_errors",
    "failed_warnings",
    "warned",
    "flags",
    "missing",
]


class StudyComplianceFilterForm(forms.Form):
    protocol = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    status = forms.ChoiceField(required=False, choices=STATUS_FILTERS, label="Status")
    min_score = forms.FloatField(
        required=False, min_value=0, max_value=100, label="Minimum score (%)"
    )
    profile = forms.ChoiceField(required=False, label="Profile")

    def __init__(self, *args: Any, study: Study, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        protocols = (
            EVPreparation.objects.filter(run__study=study)
            .order_by("run__protocol_version__protocol__name")
            .values_list(
                "run__protocol_version__protocol_id", "run__protocol_version__protocol__name"
            )
            .distinct()
        )
        self.fields["protocol"].choices = [("", "Any"), *protocols]
        self.fields["profile"].choices = [
            ("", f"Study's ({study.compliance_profile})"),
            *[(p, p) for p in PROFILES],
        ]


def _in_profile(report: PreparationReport) -> list[RuleResult]:
    """The results of the rules of the report's profile: a table judged against EV-METRIC
    counts EV-METRIC's failures, not MIBlood-EV's."""
    return [r for r in report.results if report.profile in r.profiles]


def _fail_counts(report: PreparationReport) -> tuple[int, int, int]:
    errors = warnings = warned = 0
    for result in _in_profile(report):
        if result.status == "fail":
            if result.severity == ComplianceSeverity.ERROR:
                errors += 1
            elif result.severity == ComplianceSeverity.WARNING:
                warnings += 1
        elif result.status == "warn":
            warned += 1
    return errors, warnings, warned


def study_row(preparation: dict[str, Any], report: PreparationReport) -> dict[str, Any]:
    """One line of the study table (and of its export): plain values only."""
    score = report.scores.get(report.profile)
    evmetric = report.evmetric
    errors, warnings, warned = _fail_counts(report)
    purity = report.purity
    return {
        "preparation_id": preparation["id"],
        "aliquot_id": preparation["aliquot_id"],
        "accession": preparation["aliquot__accession"],
        "nomenclature_term": preparation["nomenclature_term"],
        "nomenclature_label": TERM_LABELS.get(
            preparation["nomenclature_term"], preparation["nomenclature_term"]
        ),
        "author_term": preparation["author_term"],
        "protocol": preparation["run__protocol_version__protocol__name"],
        "protocol_version": preparation["run__protocol_version__number"],
        "run_id": preparation["run_id"],
        "run_started_at": preparation["run__started_at"],
        "profile": report.profile,
        "score_pct": _rounded(score.pct) if score else None,
        "score_passed": score.passed if score else None,
        "score_applicable": score.applicable if score else None,
        "evmetric_pct": _rounded(evmetric.pct),
        "evmetric_passed": evmetric.passed,
        "evmetric_applicable": evmetric.applicable,
        "purity_particles_per_ug": purity.particles_per_ug if purity else None,
        "purity_band": purity.band if purity else "",
        "recovery_particles_per_ml_input": report.recovery_particles_per_ml_input,
        "failed_errors": errors,
        "failed_warnings": warnings,
        "warned": warned,
        "flags": "; ".join(f"{r.code}: {r.message}" for r in report.flags),
        "flag_count": len(report.flags),
        "missing": " ".join(r.code for r in report.next_steps if report.profile in r.profiles),
    }


def _rounded(pct: float | None) -> float | None:
    return None if pct is None else round(pct, 1)


_SORT_KEYS = {
    "accession": "accession",
    "protocol": "protocol",
    "started": "run_started_at",
    "score": "score_pct",
    "evmetric": "evmetric_pct",
    "purity": "purity_particles_per_ug",
    "recovery": "recovery_particles_per_ml_input",
    "errors": "failed_errors",
    "warnings": "failed_warnings",
}


def sort_rows(rows: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    """Sort by a column, descending with a leading '-'; rows without a value come last
    either way, and the accession breaks ties so the order is total."""
    descending = sort.startswith("-")
    key = _SORT_KEYS[sort.lstrip("-")]
    present = [r for r in rows if r[key] is not None]
    absent = [r for r in rows if r[key] is None]
    present.sort(key=lambda r: r["accession"])
    present.sort(key=lambda r: r[key], reverse=descending)
    absent.sort(key=lambda r: r["accession"])
    return present + absent


def _keep(row: dict[str, Any], status: str, min_score: float | None) -> bool:
    if status == "errors" and not row["failed_errors"]:
        return False
    if status == "no_errors" and row["failed_errors"]:
        return False
    if status == "warnings" and not (row["failed_warnings"] or row["warned"]):
        return False
    if status == "complete" and (row["failed_errors"] or row["failed_warnings"]):
        return False
    if min_score is not None and (row["score_pct"] is None or row["score_pct"] < min_score):
        return False
    return True


@dataclass
class StudyTable:
    study: Study
    form: StudyComplianceFilterForm
    rows: list[dict[str, Any]]
    sort: str
    total: int  # preparations before the status and score filters


def study_table(request: HttpRequest, study: Study) -> StudyTable:
    """The study's preparations with their reports, filtered and sorted as the query string
    asks. Two steps of fixed cost whatever the number: the preparations' rows (one query)
    and one evaluation of them all."""
    form = StudyComplianceFilterForm(request.GET or None, study=study)
    data: dict[str, Any] = {}
    if form.is_bound:
        form.is_valid()  # a bad value is shown on the form; the valid ones still apply
        data = form.cleaned_data
    preparations = EVPreparation.objects.filter(run__study=study)
    if data.get("protocol"):
        preparations = preparations.filter(run__protocol_version__protocol_id=data["protocol"])
    values = list(
        preparations.order_by("id").values(
            "id",
            "aliquot_id",
            "aliquot__accession",
            "nomenclature_term",
            "author_term",
            "run_id",
            "run__started_at",
            "run__protocol_version__number",
            "run__protocol_version__protocol__name",
        )
    )
    reports = evaluate_preparations([v["id"] for v in values], profile=data.get("profile") or None)
    rows = [study_row(v, reports[v["id"]]) for v in values if v["id"] in reports]
    total = len(rows)
    rows = [r for r in rows if _keep(r, data.get("status") or "", data.get("min_score"))]
    sort = request.GET.get("sort") or "accession"
    if sort.lstrip("-") not in _SORT_KEYS:
        sort = "accession"
    return StudyTable(study, form, sort_rows(rows, sort), sort, total)


def _visible_study(request: HttpRequest, pk: int) -> Study:
    return get_object_or_404(Study.objects.visible_to(request.user), pk=pk)


def _query_with(request: HttpRequest, **changes: Any) -> str:
    query = request.GET.copy()
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = str(value)
    return query.urlencode()


@login_required
@require_GET
def study_compliance(request: HttpRequest, pk: int) -> HttpResponse:
    study = _visible_study(request, pk)
    table = study_table(request, study)
    try:
        number = max(int(request.GET.get("page", 1)), 1)
    except ValueError:
        number = 1
    pages = max(1, math.ceil(len(table.rows) / STUDY_PAGE_SIZE))
    number = min(number, pages)
    shown = table.rows[(number - 1) * STUDY_PAGE_SIZE : number * STUDY_PAGE_SIZE]
    for row in shown:
        row["purity_text"] = scientific(row["purity_particles_per_ug"])
        row["recovery_text"] = scientific(row["recovery_particles_per_ml_input"])
        row["url"] = reverse("assays:preparation-compliance", args=[row["preparation_id"]])
    sort_links = {}
    for name, label in SORTS.items():
        active = table.sort.lstrip("-") == name
        descending = table.sort == f"-{name}"
        flipped = name if descending else f"-{name}"
        sort_links[name] = {
            "label": label,
            "url": "?" + _query_with(request, sort=flipped if active else name, page=None),
            "active": active,
            "descending": descending,
        }
    export_query = _query_with(request, page=None, format=None)
    return render(
        request,
        "assays/compliance/study.html",
        {
            "section": "studies",
            "study": study,
            "form": table.form,
            "rows": shown,
            "matched": len(table.rows),
            "total": table.total,
            "sort_links": sort_links,
            "page_number": number,
            "pages": pages,
            "prev_url": "?" + _query_with(request, page=number - 1) if number > 1 else None,
            "next_url": "?" + _query_with(request, page=number + 1) if number < pages else None,
            "csv_url": _export_url(study, export_query, "csv"),
            "xlsx_url": _export_url(study, export_query, "xlsx"),
            "can_manage": has_role(study.role_of(request.user), Role.MANAGER),
        },
    )


def _export_url(study: Study, query: str, fmt: str) -> str:
    base = reverse("assays:study-compliance-export", args=[study.pk])
    return f"{base}?{query + '&' if query else ''}format={fmt}"


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _export_cell(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        # Spreadsheets have no time zones: the lab's local time, as the pages show it.
        return timezone.localtime(value).replace(tzinfo=None)
    return value


def rows_to_xlsx(rows: Iterable[dict[str, Any]], fields: Sequence[str], *, title: str) -> bytes:
    """One sheet: a bold header and a line per row, written as a stream (write-only mode
    keeps a thousand rows fast). Text that a spreadsheet would run as a formula is stored
    as text with a leading quote, as the CSV export does."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for name in fields:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in rows:
        cells = []
        for name in fields:
            value = _export_cell(row.get(name))
            if isinstance(value, str) and value[:1] in _FORMULA_STARTS:
                value = "'" + value
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # never a formula
            elif isinstance(value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@login_required
@require_GET
def study_compliance_export(request: HttpRequest, pk: int) -> HttpResponse:
    """The study table as it is filtered and sorted, every row: ``?format=csv`` or ``xlsx``."""
    study = _visible_study(request, pk)
    fmt = request.GET.get("format", "csv")
    if fmt not in ("csv", "xlsx"):
        return HttpResponseBadRequest("Use format=csv or format=xlsx.")
    table = study_table(request, study)
    stamp = timezone.localdate().isoformat()
    name = f"{study.code}-compliance-{stamp}"
    if fmt == "xlsx":
        response = HttpResponse(
            rows_to_xlsx(table.rows, EXPORT_FIELDS, title="Compliance"),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.xlsx"'
        return response
    rows = ({k: _export_cell(v) for k, v in row.items()} for row in table.rows)
    response = HttpResponse(
        "".join(rows_to_csv(rows, EXPORT_FIELDS)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


# --- Rules ----------------------------------------------------------------------------------


def can_edit_rules(user: Any) -> bool:
    """Rules are lab-wide: staff (and superusers) change them."""
    return bool(getattr(user, "is_active", False) and (user.is_staff or user.is_superuser))


def require_rule_editor(user: Any) -> None:
    if not can_edit_rules(user):
        raise PermissionDenied("Only staff change the compliance rules; ask an administrator.")


@login_required
@require_GET
def rule_list(request: HttpRequest) -> HttpResponse:
    """The current version of every rule, by profile; filter by profile, severity, state."""
    profile = request.GET.get("profile", "")
    severity = request.GET.get("severity", "")
    state = request.GET.get("state", "")
    rules = ComplianceRule.objects.current().order_by("code")
    if profile in PROFILES:
        rules = rules.filter(profiles__contains=[profile])
    if severity in ComplianceSeverity.values:
        rules = rules.filter(severity=severity)
    if state in ("on", "off"):
        rules = rules.filter(is_active=state == "on")
    rules = list(rules)
    for rule in rules:
        rule.params_text = _compact(rule.params)
    groups = []
    for name in PROFILES if profile not in PROFILES else (profile,):
        members = [r for r in rules if name in (r.profiles or [])]
        if members:
            groups.append({"profile": name, "rules": members})
    return render(
        request,
        "assays/compliance/rule_list.html",
        {
            "section": "isolation",
            "groups": groups,
            "count": len(rules),
            "profiles": PROFILES,
            "severities": ComplianceSeverity.choices,
            "chosen": {"profile": profile, "severity": severity, "state": state},
            "can_edit": can_edit_rules(request.user),
        },
    )


@login_required
@require_GET
def rule_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One rule: its current content and every version, newest first."""
    rule = get_object_or_404(ComplianceRule, pk=pk)
    versions = list(
        ComplianceRule.objects.filter(code=rule.code)
        .select_related("created_by")
        .order_by("-version")
    )
    current = next((v for v in versions if v.is_current), rule)
    for version in versions:
        version.params_text = _compact(version.params)
    return render(
        request,
        "assays/compliance/rule_detail.html",
        {
            "section": "isolation",
            "rule": rule,
            "current": current,
            "versions": versions,
            "check": _check_info(rule.check_name),
            "params_json": _pretty(rule.params),
            "applies_when_json": _pretty(rule.applies_when),
            "can_edit": can_edit_rules(request.user) and rule.is_current,
        },
    )


def _check_info(name: str) -> dict[str, Any] | None:
    """The check as plain data: a Check is callable, and templates call what they can.
    Defaults are shown as JSON, as the parameters are typed."""
    check = CHECKS.get(name)
    if check is None:
        return None
    info = check.as_dict()
    for spec in info["params"].values():
        spec["default_text"] = "–" if spec["default"] is None else _compact(spec["default"])
    return info


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def _compact(value: Any) -> str:
    """Parameters on one line, as JSON (what the edit form takes), not Python's repr."""
    return json.dumps(value if value is not None else {}, ensure_ascii=False, sort_keys=True)


class JSONTextField(forms.CharField):
    """A JSON object typed in a text area."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 8, "class": "mono"}))
        super().__init__(*args, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        return value if isinstance(value, str) else _pretty(value if value is not None else {})

    def to_python(self, value: Any) -> Any:
        text = (super().to_python(value) or "").strip()
        if not text:
            return {}
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from None
        if not isinstance(parsed, dict):
            raise ValidationError('Give a JSON object, e.g. {} or {"min": 2}.')
        return parsed


class RuleEditForm(forms.Form):
    severity = forms.ChoiceField(choices=ComplianceSeverity.choices)
    params = JSONTextField(required=False, label="Parameters (JSON)")
    applies_when = JSONTextField(required=False, label="Applies when (JSON)")
    explanation = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}))
    fix_hint = forms.CharField(required=False, max_length=200, label="What to add to pass")
    is_active = forms.BooleanField(required=False, label="Active (scored)")


_FORM_FIELDS = ("severity", "params", "applies_when", "explanation", "fix_hint", "is_active")


@login_required
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Staff change a rule's severity, parameters, applicability, explanation or state;
    saving makes a new version (the engine's own validation decides what is allowed)."""
    require_rule_editor(request.user)
    rule = get_object_or_404(ComplianceRule, pk=pk)
    if not rule.is_current:
        current = ComplianceRule.objects.current().filter(code=rule.code).first()
        if current is not None:
            return redirect("assays:rule-edit", pk=current.pk)
    initial = {name: getattr(rule, name) for name in _FORM_FIELDS}
    form = RuleEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        changes = {
            name: form.cleaned_data[name]
            for name in _FORM_FIELDS
            if form.cleaned_data[name] != getattr(rule, name)
        }
        try:
            saved = new_rule_version(rule, user=request.user, **changes)
        except ValidationError as exc:
            _errors_onto(form, exc)
        else:
            if saved.pk == rule.pk:
                messages.info(request, "Nothing changed.")
            else:
                messages.success(request, f"Saved {saved.code} as version {saved.version}.")
            return redirect("assays:rule-detail", pk=saved.pk)
    return render(
        request,
        "assays/compliance/rule_edit.html",
        {
            "section": "isolation",
            "rule": rule,
            "form": form,
            "check": _check_info(rule.check_name),
        },
    )


def _errors_onto(form: forms.Form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@login_required
@require_POST
def rule_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    """Switch a rule off or on (a new version) from the list or its page."""
    require_rule_editor(request.user)
    rule = get_object_or_404(ComplianceRule, pk=pk)
    active = request.POST.get("active") == "on"
    try:
        saved = set_rule_active(rule, user=request.user, active=active)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("assays:rule-detail", pk=rule.pk)
    state = "on" if saved.is_active else "off"
    messages.success(request, f"{saved.code} is {state} (version {saved.version}).")
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("assays:rule-detail", pk=saved.pk)
