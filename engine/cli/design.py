"""CLI commands for designers (render) and the routing patterns: proxy mandates, materials, bundles."""
from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from engine import services
from engine.bootstrap import OneWindow
from engine.bpmn.render import HIGHLIGHT_STATES, render_svg
from engine.bpmn.xml import MAX_BPMN_BYTES, parse_xml
from engine.catalog import read_bounded
from engine.cli import Registrar, data_arg
from engine.errors import InvalidInput


def highlight_arg(text: str) -> tuple[str, str]:
    """Parse `element_id=state` (state: completed, active or overdue)."""
    element_id, _, state = text.partition("=")
    if not element_id or state not in HIGHLIGHT_STATES:
        raise argparse.ArgumentTypeError(f"'{text}': expected ID=STATE with STATE one of {', '.join(sorted(HIGHLIGHT_STATES))}")
    return element_id, state


def day_arg(text: str) -> date:
    """Parse an ISO date (YYYY-MM-DD)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (YYYY-MM-DD)") from None


def cmd_render(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Draw a BPMN file's diagram as SVG, with elements highlighted by state."""
    path = Path(args.file)
    # Bounded and regular files only: a pipe or a device would never finish reading.
    svg = render_svg(parse_xml(read_bounded(path, MAX_BPMN_BYTES, "xml-too-large"), str(path)), dict(args.highlight),
                     args.diagram)
    try:
        Path(args.output).write_text(svg, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"{args.output}: cannot write the diagram: {exc.strerror}") from None
    return {"file": str(path), "output": args.output, "bytes": len(svg.encode("utf-8"))}


def cmd_mandate_grant(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Record an applicant's mandate for a proxy agent."""
    return services.proxy.grant_mandate(ow, args.as_user, args.applicant, args.agent, args.item, args.valid_from,
                                        args.valid_until, {"method": args.consent_method, "reference": args.consent_ref})


def cmd_mandate_list(ow: OneWindow, args: argparse.Namespace) -> list:
    """A user's mandates (given or held)."""
    return services.proxy.list_mandates(ow, args.as_user)


def cmd_mandate_confirm(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Confirm a pending mandate (its applicant, or a window clerk who checked the signed form)."""
    return services.proxy.confirm_mandate(ow, args.as_user, args.mandate_id, args.note)


def cmd_mandate_decline(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Decline a pending mandate (its applicant)."""
    return services.proxy.decline_mandate(ow, args.as_user, args.mandate_id, args.reason)


def cmd_mandate_revoke(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Revoke a mandate."""
    return services.proxy.revoke_mandate(ow, args.as_user, args.mandate_id)


def cmd_proxy_apply(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Apply for an item on an applicant's behalf."""
    return services.apply(ow, args.item_code, args.as_user, data_arg(args.data), on_behalf_of=args.for_user)


def cmd_proxy_cases(ow: OneWindow, args: argparse.Namespace) -> list:
    """The cases a proxy agent tracks."""
    return services.proxy.proxy_cases(ow, args.as_user)


def cmd_proxy_receive(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Receive a decided case's result for the applicant."""
    return {"case_no": args.case_no, "status": services.proxy.receive_result(ow, args.case_no, args.as_user)}


def cmd_checklist(ow: OneWindow, args: argparse.Namespace) -> list:
    """A case's materials checklist with each material's state."""
    return services.materials.checklist(ow, args.case_no)


def cmd_notice(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Give the one-time notice of everything missing or defective."""
    return services.materials.one_time_notice(ow, args.case_no, args.as_user, data_arg(args.received),
                                              data_arg(args.defective))


def cmd_supplement(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Hand in outstanding materials."""
    return services.materials.supplement(ow, args.case_no, args.as_user, data_arg(args.materials))


def cmd_defer(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Accept with deficiency: waivable materials follow by a date."""
    return services.materials.accept_with_deficiency(ow, args.case_no, args.as_user, data_arg(args.deferred),
                                                     args.due, args.opinion)


def cmd_bundle_apply(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Submit a bundle's one form."""
    applicant = data_arg(args.applicant) if args.applicant else None
    return services.bundles.apply_bundle(ow, args.bundle_code, args.as_user, data_arg(args.data), applicant)


def cmd_bundle_accept(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Accept every sub-case of a bundle at once."""
    return services.bundles.accept_bundle(ow, args.bundle_no, args.as_user, args.opinion)


def cmd_bundle_show(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Show a bundle's sub-cases."""
    return services.bundles.bundle_detail(ow, args.bundle_no)


def register(r: Registrar) -> None:
    """Add render, mandate, proxy, materials and bundle subcommands."""
    p = r.add("render", cmd_render, "draw a BPMN diagram as SVG")
    p.add_argument("file")
    p.add_argument("-o", "--output", required=True, help="SVG file to write")
    p.add_argument("--highlight", type=highlight_arg, action="append", default=[], metavar="ID=STATE",
                   help="highlight an element: completed, active or overdue (repeatable)")
    p.add_argument("--diagram", type=int, default=0, help="which BPMNDiagram of the file (default 0)")

    mandate = r.sub.add_parser("mandate", help="proxy mandates (代办委托)").add_subparsers(dest="mandate_command", required=True)
    p = r.add("grant", cmd_mandate_grant, "record an applicant's mandate for a proxy agent (pending when the agent "
              "records it)", actor=True, sub=mandate)
    p.add_argument("--applicant", required=True)
    p.add_argument("--agent", required=True)
    p.add_argument("--item", required=True, help="item code the mandate covers")
    p.add_argument("--from", dest="valid_from", type=day_arg, required=True)
    p.add_argument("--until", dest="valid_until", type=day_arg, required=True)
    p.add_argument("--consent-method", required=True, help="signed_form, in_person or online")
    p.add_argument("--consent-ref", required=True, help="the signed form's number or the consent record")
    r.add("list", cmd_mandate_list, "list mandates given or held (clerks: at their points), with their trail",
          actor=True, sub=mandate)
    p = r.add("confirm", cmd_mandate_confirm, "confirm a pending mandate: the applicant, or a window clerk who "
              "checked the signed form", actor=True, sub=mandate)
    p.add_argument("mandate_id", type=int)
    p.add_argument("--note", default="", help="e.g. how the signed form was checked")
    p = r.add("decline", cmd_mandate_decline, "decline a pending mandate (the applicant)", actor=True, sub=mandate)
    p.add_argument("mandate_id", type=int)
    p.add_argument("--reason", default="")
    r.add("revoke", cmd_mandate_revoke, "revoke a mandate", actor=True, sub=mandate).add_argument("mandate_id", type=int)

    proxy = r.sub.add_parser("proxy", help="a proxy agent's work (代办)").add_subparsers(dest="proxy_command", required=True)
    p = r.add("apply", cmd_proxy_apply, "apply on an applicant's behalf", actor=True, sub=proxy)
    p.add_argument("item_code")
    p.add_argument("--for", dest="for_user", required=True, help="the applicant's username")
    p.add_argument("--data", required=True, help="application form as JSON or @file")
    r.add("cases", cmd_proxy_cases, "cases handled as proxy", actor=True, sub=proxy)
    r.add("receive", cmd_proxy_receive, "receive a result for the applicant", actor=True, sub=proxy).add_argument("case_no")

    materials = r.sub.add_parser("materials", help="materials checklist, one-time notice, supplements, deficiency")
    materials = materials.add_subparsers(dest="materials_command", required=True)
    r.add("checklist", cmd_checklist, "show a case's materials checklist", sub=materials).add_argument("case_no")
    p = r.add("notice", cmd_notice, "one-time notice of missing or defective materials (一次性告知)", actor=True,
              sub=materials)
    p.add_argument("case_no")
    p.add_argument("--received", required=True, help="JSON list of checklist materials received")
    p.add_argument("--defective", default="{}", help="JSON object: material → what is wrong with it")
    p = r.add("supplement", cmd_supplement, "hand in outstanding materials", actor=True, sub=materials)
    p.add_argument("case_no")
    p.add_argument("--materials", required=True, help="JSON list of materials handed in")
    p = r.add("defer", cmd_defer, "accept with deficiency (容缺受理)", actor=True, sub=materials)
    p.add_argument("case_no")
    p.add_argument("--deferred", required=True, help="JSON list of waivable materials to follow")
    p.add_argument("--due", type=day_arg, required=True, help="date by which they must arrive")
    p.add_argument("--opinion", default="")

    bundle = r.sub.add_parser("bundle", help="one-thing bundles (一件事)").add_subparsers(dest="bundle_command", required=True)
    p = r.add("apply", cmd_bundle_apply, "submit a bundle's form", actor=True, sub=bundle)
    p.add_argument("bundle_code")
    p.add_argument("--data", required=True, help="bundle form as JSON or @file")
    p.add_argument("--applicant", help="applicant details (JSON or @file), required at a window")
    p = r.add("accept", cmd_bundle_accept, "accept all sub-cases at once", actor=True, sub=bundle)
    p.add_argument("bundle_no")
    p.add_argument("--opinion", default="")
    r.add("show", cmd_bundle_show, "show a bundle's sub-cases", sub=bundle).add_argument("bundle_no")
