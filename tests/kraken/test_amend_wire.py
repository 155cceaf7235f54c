"""Kraken's ``amend_order`` ack and ``amended`` report shapes decode (fields we do not model,
such as ``amend_id``, are ignored rather than breaking the frame)."""

from __future__ import annotations

from decimal import Decimal

from galfriday.kraken.wire import ExecutionsMessage, FrameDecoder, Response

ACK = (
    b'{"method":"amend_order","result":{"amend_id":"TTW6PD-RC36L-ZZSWNU",'
    b'"order_id":"OFGKYQ-FHPCQ-HUQFEK"},"success":true,"req_id":7,'
    b'"time_in":"2024-07-26T13:39:04.922699Z","time_out":"2024-07-26T13:39:04.924912Z"}'
)
AMENDED = (
    b'{"channel":"executions","type":"update","sequence":12,"data":[{"exec_type":"amended",'
    b'"order_id":"OFGKYQ-FHPCQ-HUQFEK","order_qty":1.25,"limit_price":690795,'
    b'"order_status":"new","amended":true,"timestamp":"2024-07-26T13:39:04.924912Z"}]}'
)


def test_amend_ack_with_an_amend_id_decodes_as_a_successful_reply() -> None:
    reply = FrameDecoder().decode(ACK)
    assert isinstance(reply, Response) and reply.ok and reply.req_id == 7
    assert reply.result is not None and reply.result.order_id == "OFGKYQ-FHPCQ-HUQFEK"


def test_amended_report_carries_the_new_terms() -> None:
    message = FrameDecoder().decode(AMENDED)
    assert isinstance(message, ExecutionsMessage)
    report = message.data[0]
    assert (report.exec_type, report.order_qty, report.limit_price, report.amended) == (
        "amended",
        Decimal("1.25"),
        Decimal("690795"),
        True,
    )
