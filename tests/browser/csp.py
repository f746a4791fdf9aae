"""Content-Security-Policy violations seen by the browser.

`csp_violations(context)` makes every page the context opens report each `securitypolicyviolation`
event (an inline script or style refused, a resource from an origin the policy does not list,
eval) into the list it returns, across navigations, so a test can assert the list is empty at
its end. The listener is an init script, which Playwright runs outside the page's policy.
"""

from __future__ import annotations

from playwright.sync_api import BrowserContext

REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  const where = event.sourceFile ? ` at ${event.sourceFile}:${event.lineNumber}` : "";
  window.hearthCspViolation(
    `${location.pathname}: ${event.effectiveDirective} refused ${event.blockedURI || "?"}${where}`
  );
});
"""


def csp_violations(context: BrowserContext, found: list[str] | None = None) -> list[str]:
    """Violations on pages opened in context from now on, one line each: the page's path, the
    directive, what it refused (`inline`, `eval`, a URL) and where; appended to ``found``
    when given, and returned."""
    found = [] if found is None else found

    def report(violation: str) -> None:
        found.append(violation)

    context.expose_function("hearthCspViolation", report)
    context.add_init_script(REPORT_VIOLATIONS)
    return found
