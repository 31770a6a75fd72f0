"""Every request the connector sends to Moneybird, and every one the sandbox accepts, must
satisfy Moneybird's official OpenAPI spec (contracts/moneybird/openapi.yml)."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connector.runtime import Runtime
from connector.sandbox.moneybird import Fault, MoneybirdSandbox
from tests.conftest import CONTRACTS, require_contract

SPEC = CONTRACTS / "moneybird" / "openapi.yml"


@pytest.fixture(scope="module")
def openapi() -> Any:
    require_contract(SPEC, "Moneybird OpenAPI spec")
    import yaml
    from openapi_core import Config, OpenAPI
    from openapi_core.validation.request.validators import V31RequestBodyValidator

    # The published spec does not pass openapi-spec-validator's own checks (a boolean schema
    # with default 'default'), and declares bodies as application/*: read those as JSON.
    # openapi-core cannot deserialise the OpenAPI 3.1 parameters typed [integer, string] that
    # Moneybird declares (ids, page), so it checks operation and body; parameters are below.
    config = Config(
        spec_validator_cls=None,
        extra_media_type_deserializers={"application/*": json.loads},
        request_validator_cls=V31RequestBodyValidator,
    )
    with SPEC.open("rb") as handle:
        raw = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return OpenAPI.from_dict(raw, config=config), raw


def validate(openapi: Any, method: str, path: str, query: list[tuple[str, str]], body: Any) -> None:
    """The operation and its body through openapi-core; path and query parameters here."""
    from openapi_core.testing import MockRequest

    api, raw = openapi
    _validate_parameters(raw, method, path, query)
    request = MockRequest(
        "https://moneybird.com",
        method.lower(),
        path,
        headers={"Authorization": "Bearer x"},
        data=json.dumps(body).encode() if body is not None else None,
        content_type="application/json",
    )
    api.validate_request(request)


def _validate_parameters(raw: dict, method: str, path: str, query: list[tuple[str, str]]) -> None:
    from openapi_schema_validator import OAS31Validator

    def resolve(node: dict, section: str) -> dict:
        while "$ref" in node:
            node = raw["components"][section][node["$ref"].rsplit("/", 1)[1]]
        return node

    relative = path.removeprefix("/api/v2")
    for template, item in raw["paths"].items():
        parts = re.split(r"(\{[a-z_]+\})", template)
        pattern = "".join(
            r"(\.json)?" if part == "{format}"
            else f"(?P<{part[1:-1]}>[^/]+?)" if part.startswith("{")
            else re.escape(part)
            for part in parts
        )  # fmt: skip
        found = re.fullmatch(pattern, relative)
        if found and method.lower() in item:
            operation = item[method.lower()]
            break
    else:
        raise AssertionError(f"{method} {path}: no such operation in the spec")
    declared: dict[tuple[str, str], dict] = {}
    for param in operation.get("parameters", []) + item.get("parameters", []):
        param = resolve(param, "parameters")
        declared[(param["in"], param["name"])] = param.get("schema", {})
    values = [("path", k, v) for k, v in found.groupdict().items() if k != "format"]
    values += [("query", k, v) for k, v in query]
    for where, name, value in values:
        assert (where, name) in declared, f"{method} {path}: {where} parameter {name!r} unknown"
        # The spec's components ride along so nested $refs resolve.
        schema = {**declared[(where, name)], "components": raw["components"]}
        OAS31Validator(schema).validate(value)


def exercise(runtime: Runtime, moneybird: MoneybirdSandbox) -> None:
    """Drive every kind of request the connector makes."""
    moneybird.faults.append(Fault("POST", r"sales_invoices", "after_500"))  # find_by_reference
    moneybird.faults.append(Fault("POST", r"sales_invoices/\d+/payments", "after_drop"))
    runtime.engine().run_pass()
    runtime.engine().run_pass()
    client = runtime.client
    contact = next(iter(moneybird.contacts.values()))
    client.contact_by_customer_id(contact["customer_id"])
    client.search_contacts("anna.devries@example.nl")
    client.update_contact(contact["id"], {"address1": "Keizersgracht 1", "tax_number": "NL1"})
    invoice = client.create_invoice(
        {
            "sales_invoice": {
                "contact_id": contact["id"],
                "reference": "CONTRACT-1",
                "invoice_date": "2026-11-01",
                "currency": "EUR",
                "prices_are_incl_tax": False,
                "details_attributes": [
                    {
                        "description": "Stickers",
                        "amount": "1",
                        "price": "0.50",
                        "tax_rate_id": moneybird.tax_rates[0]["id"],
                        "ledger_account_id": moneybird.ledger_accounts[0]["id"],
                    }
                ],
            }
        }
    )
    client.send_invoice(invoice["id"], "Manual")
    client.create_payment(
        invoice["id"],
        # price_base as sent for an invoice in another currency (its amount in euros)
        {
            "payment_date": "2026-11-01",
            "price": "0.60",
            "price_base": "0.60",
            "transaction_identifier": "t-1",
        },
    )
    client.create_payment(
        invoice["id"],
        {
            "payment_date": "2026-11-01",
            "price": "0.01",
            "transaction_identifier": "t-1-rounding",
            "manual_payment_action": "rounding_error",
        },
    )
    draft = client.create_invoice(
        {"sales_invoice": {"contact_id": contact["id"], "reference": "X"}}
    )
    client.delete_invoice(draft["id"])
    # The external-invoice variant (sync.document = "external_sales_invoice").
    client.documents = "external_sales_invoices"
    external = client.create_invoice({"external_sales_invoice": {
        "contact_id": contact["id"], "reference": "WC-9", "date": "2026-11-01", "currency": "EUR",
        "prices_are_incl_tax": True, "source": "WooCommerce",
        "details_attributes": [{"description": "Mok", "amount": "1", "price": "12.10",
                                "tax_rate_id": moneybird.tax_rates[0]["id"],
                                "ledger_account_id": moneybird.ledger_accounts[0]["id"]}]}})  # fmt: skip
    client.create_payment(external["id"], {"payment_date": "2026-11-01", "price": "12.10"})
    assert client.invoice_by_reference("WC-9") is not None  # found by reading them all
    client.documents = "sales_invoices"
    assert client.invoice_by_reference("CONTRACT-1") is not None


def test_every_request_sent_and_accepted_satisfies_the_spec(
    openapi: Any, runtime: Runtime, moneybird: MoneybirdSandbox
) -> None:
    exercise(runtime, moneybird)
    kinds = set()
    for method, path, query, body in moneybird.received:
        validate(openapi, method, path, query, body)
        kinds.add(method)
    for method, path, body in moneybird.accepted:
        validate(openapi, method, path, [], body)
    assert {"GET", "POST", "PATCH", "DELETE"} <= kinds
    sent_paths = {p.split("/", 4)[-1] for _m, p, _q, _b in moneybird.received}
    for expected in ("contacts.json", "sales_invoices.json", "tax_rates.json"):
        assert expected in sent_paths
    assert any(p.endswith("/send_invoice.json") for p in sent_paths)
    assert any(p.endswith("/payments.json") for p in sent_paths)
    assert any("find_by_reference" in p for p in sent_paths)
    assert "external_sales_invoices.json" in sent_paths
    assert Decimal(moneybird.invoices[next(iter(moneybird.invoices))]["total_paid"]) > 0


def test_the_validator_rejects_what_moneybird_would_reject(openapi: Any) -> None:
    from openapi_core.validation.request.exceptions import RequestValidationError

    path = "/api/v2/123/contacts.json"
    with pytest.raises(RequestValidationError):  # `email` is no longer writable
        validate(openapi, "POST", path, [], {"contact": {"firstname": "A", "email": "a@b.nl"}})
    with pytest.raises(RequestValidationError):  # ids are digit strings
        validate(openapi, "POST", "/api/v2/123/sales_invoices.json", [],
                 {"sales_invoice": {"contact_id": "abc"}})  # fmt: skip
    validate(openapi, "POST", path, [], {"contact": {"firstname": "A", "customer_id": "WEB-1"}})


def test_credit_invoice_requests_satisfy_the_spec(
    openapi: Any, runtime: Runtime, moneybird: MoneybirdSandbox, shop: Any
) -> None:
    runtime.engine().run_pass()
    shop.refund(1001, items=[(10012, 1, "28.88", "6.07")])  # edited duplicate
    shop.refund(1003, "5.00")  # amount only
    shop.refund(1004, "16.46")  # in full: the duplicate as it is
    # A lost duplicate answer makes the connector list drafts by filter.
    moneybird.faults.append(
        Fault("PATCH", r"sales_invoices/\d+/duplicate_creditinvoice", "after_drop")
    )
    runtime.engine().run_pass()
    # Settling a credit against an unpaid original.
    credit = runtime.client.duplicate_credit_invoice(
        next(i["id"] for i in moneybird.invoices.values() if i["reference"] == "WC-1005")
    )
    moneybird.invoices[credit["original_sales_invoice_id"]]["state"] = "open"
    runtime.client.send_invoice(credit["id"], "Manual")
    runtime.client.settle_credit_invoice(credit["id"])
    sent = [(m, p) for m, p, _q, _b in moneybird.received]
    for method, path, query, body in moneybird.received:
        validate(openapi, method, path, query, body)
    for suffix in ("/duplicate_creditinvoice.json", "/register_payment_creditinvoice.json"):
        assert any(p.endswith(suffix) for _m, p in sent)
    assert any(m == "PATCH" and re.search(r"sales_invoices/\d+\.json$", p) for m, p in sent)
    assert any(m == "GET" and p.endswith("/sales_invoices.json") for m, p in sent)


def test_reconciliation_reads_only_and_its_requests_satisfy_the_spec(
    openapi: Any, runtime: Runtime, moneybird: MoneybirdSandbox
) -> None:
    from openapi_schema_validator import OAS31Validator

    from connector.sync.reconcile import Month, reconcile

    runtime.engine().run_pass()
    moneybird.received.clear()
    moneybird.accepted.clear()
    first = min(i["invoice_date"] for i in moneybird.invoices.values())
    month = Month.of(date.fromisoformat(first))  # the demo orders' (first) month
    result = reconcile(runtime.engine(), month)
    assert result.error is None
    for method, path, query, body in moneybird.received:
        validate(openapi, method, path, query, body)
    assert moneybird.accepted == [] or all(
        p.endswith("/synchronization.json") for _m, p, _b in moneybird.accepted
    )
    # The sandbox's VAT report is shaped as the spec's answer (no field it does not declare).
    _api, raw = openapi
    operation = raw["paths"]["/{administration_id}/reports/tax{format}"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    answer = runtime.client.tax_report(month.first, month.last)
    assert answer["tax_rates"]
    OAS31Validator({**schema, "components": raw["components"]}).validate(answer)
    # Like Moneybird, more than one month is refused.
    base = f"{moneybird.api_url}/{moneybird.administration_id}/reports/tax.json"
    headers = {"Authorization": f"Bearer {moneybird.token}"}
    too_long = httpx.get(base, params={"period": "20261001..20261130"}, headers=headers)
    assert too_long.status_code == 400
    assert too_long.json() == {"error": "Period cannot exceed 1 month"}
    assert httpx.get(base, params={"period": "202610"}, headers=headers).status_code == 200


def test_bank_requests_satisfy_the_spec(
    openapi: Any, runtime: Runtime, moneybird: MoneybirdSandbox
) -> None:
    """Statements, the mutation filters and synchronization, and every link the connector
    makes or undoes on a mutation."""
    from connector.moneybird import bank
    from connector.sandbox.seed import FIN_BANK, FIN_MOLLIE, LEDGER_FEES

    runtime.engine().run_pass()
    client = runtime.client
    invoice = next(i for i in moneybird.invoices.values() if i["state"] != "draft")
    total = Decimal(invoice["total_price_incl_tax"])
    for payment in list(invoice["payments"]):  # unpaid again, for the link to pay it
        invoice["payments"].remove(payment)
    invoice["state"] = "open"
    day = date.fromisoformat(invoice["invoice_date"])
    lines = [
        bank.BankLine(day, total, "order", "A. de Vries", "tr_1"),
        bank.BankLine(day, Decimal("-0.29"), "fees", "Mollie", "fee_1", "1234567.2611.01"),
        bank.BankLine(day, Decimal("-5.00"), "refund", account_servicer_transaction_id="re_1"),
    ]
    answer = client.create_financial_statement(FIN_MOLLIE, "1234567.2611.01", day, lines)
    paid, fee, _refund = (m.id for m in bank.statement_mutations(answer))
    terms: dict[str, bank.FilterValue] = {
        "period": (day, day), "state": ["unprocessed", "processed"], "mutation_type": "debit",
        "financial_account_id": FIN_MOLLIE, "amount_from": Decimal("0.01"),
        "amount_to": Decimal("10"),
    }  # fmt: skip
    assert len(client.financial_mutations(terms)) == 2
    ids = [str(row["id"]) for row in client.financial_mutation_versions(terms)]
    assert len(client.financial_mutations_by_ids(ids)) == 2
    client.financial_mutation(paid)
    client.link_booking(paid, "SalesInvoice", str(invoice["id"]), total, description="order")
    linked = client.link_booking(fee, "LedgerAccount", LEDGER_FEES, Decimal("0.29"))
    assert isinstance(linked, dict)
    client.unlink_booking(
        fee, "LedgerAccountBooking", bank.mutation_of(linked).ledger_booking_ids[0]
    )
    made = bank.mutation_of(client.financial_mutation(paid)).payment_ids[0]
    client.unlink_booking(paid, "Payment", made)
    registered = client.create_payment(
        str(invoice["id"]),
        {"payment_date": str(day), "price": str(total), "financial_account_id": FIN_MOLLIE},
    )
    client.link_booking(paid, "Payment", str(registered["id"]), None)
    moneybird.add_bank_line(FIN_BANK, day, total, "MOLLIE 1234567.2611.01")
    sent = set()
    for method, path, query, body in moneybird.received:
        validate(openapi, method, path, query, body)
        sent.add((method, path.split("/", 4)[-1].split("/")[0], path.rsplit("/", 1)[-1]))
    for method, path, body in moneybird.accepted:
        validate(openapi, method, path, [], body)
    assert {
        ("POST", "financial_statements.json", "financial_statements.json"),
        ("GET", "financial_mutations.json", "financial_mutations.json"),
        ("GET", "financial_mutations", "synchronization.json"),
        ("POST", "financial_mutations", "synchronization.json"),
        ("PATCH", "financial_mutations", "link_booking.json"),
        ("DELETE", "financial_mutations", "unlink_booking.json"),
    } <= sent
    assert moneybird.financial_mutations[paid]["state"] == "processed"
