"""Account pages (login with slow-down, logout, the user's own API tokens) and the list-page
helper shared by the pages of every app."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_filters import FilterSet

from .forms import ApiTokenForm, ThrottledAuthenticationForm
from .models import ApiToken


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True
    # The dashboard lives in the namespaced pages app.
    next_page = reverse_lazy("samples:dashboard")


class LogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("login")


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    """List the user's tokens; POST creates one and shows its key this one time only."""
    new_key = None
    if request.method == "POST":
        form = ApiTokenForm(request.POST)
        if form.is_valid():
            token, new_key = ApiToken.issue(
                user=request.user,
                name=form.cleaned_data["name"],
                days=form.cleaned_data["expires_in_days"] or 0,
            )
            messages.success(request, f"Token “{token.name}” created. Copy the key now.")
            form = ApiTokenForm()
    else:
        form = ApiTokenForm()
    tokens = ApiToken.objects.filter(user=request.user)
    # The response carries a secret: the page is not cached (never_cache) and is rendered
    # directly instead of redirecting, so the key is never stored anywhere.
    return render(
        request,
        "accounts/api_tokens.html",
        {"form": form, "tokens": tokens, "new_key": new_key, "section": "tokens"},
    )


@login_required
@require_http_methods(["GET", "POST"])
def api_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    if request.method == "POST":
        token.revoke()
        messages.success(request, f"Token “{token.name}” ({token.prefix}…) revoked.")
        return redirect("api-tokens")
    return render(request, "accounts/api_token_revoke.html", {"token": token, "section": "tokens"})


# --- List pages ------------------------------------------------------------------------

LIST_PAGE_SIZE = 50
# Page numbers need a total, but COUNT(*) over a million rows on every view is too slow:
# count at most this many and show "10,000+"; deeper rows are reached by filtering.
LIST_COUNT_CAP = 10_000


class ListPage:
    """Filter (a shared FilterSet), sort (whitelisted columns) and paginate a list page.

    Costs two bounded queries: the page itself (one extra row tells whether a next page
    exists) and a count capped at LIST_COUNT_CAP.
    """

    def __init__(
        self,
        request: HttpRequest,
        *,
        filterset_class: type[FilterSet],
        queryset: QuerySet,
        sorts: dict[str, str],
        default_sort: str,
        shown: tuple[str, ...] = ("q",),
        studies: QuerySet | None = None,
        page_size: int | None = None,
    ) -> None:
        self.request = request
        # Filters with a control on the page; the others still apply when given in the URL.
        self.shown = shown
        self.page_size = page_size = page_size or LIST_PAGE_SIZE
        self.filterset = filterset_class(request.GET or None, queryset=queryset, request=request)
        self._tune_filter_form(studies)
        form = self.filterset.form
        self.filter_fields = [form[name] for name in shown if name in form.fields]
        self.hidden_filter_fields = [form[name] for name in form.fields if name not in shown]
        self.valid = not self.filterset.is_bound or self.filterset.is_valid()
        filtered = self.filterset.qs if self.valid else queryset.none()

        self.sort = request.GET.get("sort", default_sort)
        if self.sort.lstrip("-") not in sorts:
            self.sort = default_sort
        descending = self.sort.startswith("-")
        column = sorts[self.sort.lstrip("-")]
        # The id tie-breaker makes the order total, so pages never overlap or skip rows.
        order = [f"-{column}", "-id"] if descending else [column, "id"]
        self.sort_links = {
            name: {
                "url": self.url_with(sort=name if self.sort == f"-{name}" else f"-{name}")
                if self.sort.lstrip("-") == name
                else self.url_with(sort=name),
                "active": self.sort.lstrip("-") == name,
                "descending": self.sort == f"-{name}",
            }
            for name in sorts
        }

        self.last_page = LIST_COUNT_CAP // page_size
        try:
            self.number = min(max(int(request.GET.get("page", 1)), 1), self.last_page)
        except ValueError:
            self.number = 1
        offset = (self.number - 1) * page_size
        rows = list(filtered.order_by(*order)[offset : offset + page_size + 1])
        self.has_next = len(rows) > page_size
        self.rows = rows[:page_size]
        if self.number == 1 and not self.has_next:
            self.total = len(self.rows)
        else:
            self.total = filtered.order_by().values("pk")[: LIST_COUNT_CAP + 1].count()
        self.total_capped = self.total > LIST_COUNT_CAP
        self.total = min(self.total, LIST_COUNT_CAP)
        self.pages = max(1, -(-self.total // page_size))
        self.has_next = self.has_next and self.number < self.last_page
        self.first_index = offset + 1 if self.rows else 0
        self.last_index = offset + len(self.rows)

    def url_with(self, **changes: Any) -> str:
        """This page's URL with some query parameters changed (None removes one)."""
        query = self.request.GET.copy()
        for key, value in changes.items():
            if value is None:
                query.pop(key, None)
            else:
                query[key] = str(value)
        if "page" not in changes:
            query.pop("page", None)
        return f"?{query.urlencode()}"

    @property
    def prev_url(self) -> str | None:
        return self.url_with(page=self.number - 1) if self.number > 1 else None

    @property
    def next_url(self) -> str | None:
        return self.url_with(page=self.number + 1) if self.has_next else None

    @property
    def page_links(self) -> list[dict[str, Any]]:
        """Numbers around the current page, with None for the gaps: 1 … 4 5 [6] 7 8 … 20."""
        wanted = {1, self.pages, *range(self.number - 2, self.number + 3)}
        numbers = sorted(n for n in wanted if 1 <= n <= self.pages)
        links: list[dict[str, Any]] = []
        for previous, number in zip([0, *numbers], numbers, strict=False):
            if number - previous > 1:
                links.append({"gap": True})
            links.append(
                {
                    "number": number,
                    "url": self.url_with(page=number),
                    "current": number == self.number,
                }
            )
        return links if len(numbers) > 1 else []

    @property
    def filtered(self) -> bool:
        return any(value for key, value in self.request.GET.items() if key not in {"page", "sort"})

    def _tune_filter_form(self, studies: QuerySet | None) -> None:
        fields = self.filterset.form.fields
        if studies is not None and "study" in fields:
            fields["study"].widget = forms.Select(
                choices=[("", "All studies")]
                + [(study.pk, study.code) for study in studies.only("id", "code")]
            )
        for name, field in fields.items():
            if isinstance(field, forms.MultipleChoiceField):
                field.widget = forms.CheckboxSelectMultiple(choices=field.choices)
            elif isinstance(field, forms.DateTimeField):
                field.widget = forms.DateTimeInput(attrs={"type": "datetime-local"})
            if name == "q":
                field.widget.attrs.update({"type": "search", "placeholder": field.label})
                field.label = "Search"
            else:
                # Generated labels read "Collected at is greater than or equal to".
                field.label = name.replace("_", " ").capitalize()
