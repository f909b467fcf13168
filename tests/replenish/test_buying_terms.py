"""Master data for buying over the API: suppliers, terms per supplier × SKU, capacities per
location × SKU, shelf lives; a CSV file imports whole or not at all, naming the row and field."""

from __future__ import annotations

from tests.orders.chain import Api, gtin

A, B = gtin(21), gtin(22)


async def _token(api: Api, name: str, role: str, store: str | None = None) -> str:
    status, body = await api.post("/v1/tokens", {"name": name, "role": role, "store": store})
    assert status == 201, body
    return str(body["token"])


async def test_terms_capacities_and_shelf_lives_round_trip(api: Api) -> None:
    await api.store("sh-1")
    _, saved = await api.put("/v1/suppliers", {"suppliers": [{"supplier": "acme", "name": "Acme Pet Foods"}]})
    assert saved == {"saved": 1, "changed": 1}
    _, saved = await api.put("/v1/buying-terms", {
        "terms": [{"supplier": "acme", "sku": A, "lead_mean_days": 5, "lead_sd_days": 1.5, "pack": 6,
                   "minimum": 24, "unit_cost": 12.5},
                  {"supplier": "acme", "sku": B, "lead_mean_days": 3}],
        "capacities": [{"store": "sh-1", "sku": A, "capacity": 60}],
        "shelf_lives": [{"sku": A, "days": 90}]})
    assert saved == {"saved": 4, "changed": 4}
    _, again = await api.put("/v1/buying-terms", {"shelf_lives": [{"sku": A, "days": 90}]})
    assert again == {"saved": 1, "changed": 0}  # the same value: nothing changed, nothing audited
    _, got = await api.get(f"/v1/buying-terms?sku={B}")
    assert got["terms"] == [{"supplier": "acme", "sku": B, "lead_mean_days": 3.0, "lead_sd_days": 0.0,
                             "pack": 1, "minimum": 0, "unit_cost": None}]
    assert got["capacities"] == [] and got["shelf_lives"] == []
    _, got = await api.get("/v1/buying-terms")
    assert got["capacities"] == [{"store": "sh-1", "sku": A, "capacity": 60}]
    assert got["shelf_lives"] == [{"sku": A, "days": 90}]
    finance = await _token(api, "books", "finance")
    status, read = await api.get("/v1/suppliers", token=finance)
    assert status == 200 and read["suppliers"] == [{"supplier": "acme", "name": "Acme Pet Foods"}]
    status, _ = await api.call("PUT", "/v1/suppliers", {"suppliers": [{"supplier": "x"}]}, token=finance)
    assert status == 403
    shop = await _token(api, "shop-1", "store", "sh-1")
    status, _ = await api.get("/v1/buying-terms", token=shop)
    assert status == 403


async def test_unknown_suppliers_and_locations_and_repeats_are_refused(api: Api) -> None:
    await api.put("/v1/suppliers", {"suppliers": [{"supplier": "acme"}]})
    status, body = await api.call("PUT", "/v1/buying-terms", {"terms": [
        {"supplier": "acme", "sku": A, "lead_mean_days": 2}, {"supplier": "nobody", "sku": A, "lead_mean_days": 2}]})
    assert status == 422 and body["field"] == "terms[1].supplier", body
    status, body = await api.call("PUT", "/v1/buying-terms", {"capacities": [
        {"store": "sh-9", "sku": A, "capacity": 3}]})
    assert status == 422 and body["field"] == "capacities[0].store", body
    status, body = await api.call("PUT", "/v1/buying-terms", {"shelf_lives": [
        {"sku": A, "days": 3}, {"sku": A, "days": 4}]})
    assert status == 400 and body["field"] == "shelf_lives[1].sku", body
    status, body = await api.call("PUT", "/v1/buying-terms", {"terms": [
        {"supplier": "acme", "sku": A, "lead_mean_days": 2, "pack": 0}]})
    assert status == 400 and body["field"] == "terms[0].pack", body
    _, got = await api.get("/v1/buying-terms")
    assert got == {"terms": [], "capacities": [], "shelf_lives": []}


async def test_a_csv_file_imports_whole_or_names_its_bad_row(api: Api) -> None:
    await api.put("/v1/suppliers", {"suppliers": [{"supplier": "acme"}]})
    ean13 = A[1:]  # the GTIN as a till reads it, the leading zero dropped by a spreadsheet
    good = f"\ufeffSKU,supplier,lead_mean_days,pack,minimum,unit_cost\n{ean13},acme,4,6,12,9.9\n{B},acme,2,,,\n"
    bad = good + f"{gtin(23)},acme,3,six,,\n"
    status, body = await api.post("/v1/buying-terms/import", {"table": "terms", "csv": bad})
    assert status == 400 and (body["row"], body["column"]) == (4, "pack"), body
    assert "nothing imported" in body["error"]
    _, got = await api.get("/v1/buying-terms")
    assert got["terms"] == []
    status, body = await api.post("/v1/buying-terms/import", {
        "table": "terms", "csv": good + f"{gtin(23)},someone,3,,,\n"})
    assert status == 422 and (body["row"], body["column"]) == (4, "supplier"), body
    status, body = await api.post("/v1/buying-terms/import", {"table": "terms", "csv": good.replace("pack", "packs")})
    assert status == 400 and (body["row"], body["column"]) == (1, "packs"), body
    status, body = await api.post("/v1/buying-terms/import", {"table": "terms", "csv": good})
    assert status == 200 and body["saved"] == 2, body
    _, got = await api.get("/v1/buying-terms?supplier=acme")
    assert [(t["sku"], t["pack"], t["minimum"], t["unit_cost"]) for t in got["terms"]] == [
        (A, 6, 12, 9.9), (B, 1, 0, None)]
    status, body = await api.post("/v1/buying-terms/import", {"table": "shelf_lives", "csv": f"sku,days\n{A},0\n"})
    assert status == 400 and (body["row"], body["column"]) == (2, "days"), body
