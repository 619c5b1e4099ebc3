import numpy as np

from scope import kinds
from scope.collector.app import APP, HEADER_SIZE, SpanPairer, decode_app


def record(kind, ts, ref=0, parent=0, name=b"", data=b"", flags=0, tid=1):
    rec = np.zeros(1, APP)
    rec["ts"], rec["pid"], rec["tid"], rec["kind"], rec["flags"] = ts, 1, tid, kind, flags
    rec["ref"], rec["parent"], rec["len"], rec["name"] = ref % (1 << 64), parent, len(data), name
    return rec.tobytes()[:HEADER_SIZE] + data


def test_decode_signed_and_payload():
    rows = decode_app([record(kinds.TRACING, 5, ref=-1, parent=77),
                       record(kinds.MARK, 6, name=b"m", data=b'{"a":1}')])
    assert rows[0]["ref"] == -1 and rows[0]["parent"] == 77
    assert (rows[1]["name"], rows[1]["payload"]) == ("m", '{"a":1}')


def test_spans_pair_by_id_across_threads_and_out_of_order():
    p = SpanPairer()
    p.feed(decode_app([record(kinds.SPAN_BEGIN, 10, ref=1, name=b"outer"),
                       record(kinds.SPAN_BEGIN, 20, ref=2, parent=1, name=b"inner", tid=2),
                       record(kinds.SPAN_END, 50, ref=1)]))
    p.feed(decode_app([record(kinds.SPAN_END, 30, ref=2, flags=kinds.F_RAISED, tid=2),
                       record(kinds.SPAN_BEGIN, 60, ref=3, name=b"left-open")]))
    p.finish()
    rows = {r["name"]: r for r in p.rows}
    assert rows["inner"]["status"] == "raised" and rows["inner"]["duration_ns"] == 10
    assert rows["outer"]["status"] == "complete" and rows["outer"]["duration_ns"] == 40
    assert rows["left-open"]["status"] == "open" and rows["left-open"]["end_ns"] is None


def test_messages_pair_by_channel_and_id():
    from scope.collector.app import MessagePairer
    m = MessagePairer()
    m.feed(decode_app([record(kinds.SEND, 10, name=b"jobs", data=b"1", tid=1),
                       record(kinds.SEND, 20, name=b"jobs", data=b"2", tid=1),
                       record(kinds.RECV, 35, name=b"jobs", data=b"1", tid=2),
                       record(kinds.RECV, 40, name=b"other", data=b"1", tid=2)]))
    m.finish()
    rows = {(r["channel"], r["msg_id"]): r for r in m.rows}
    assert rows[("jobs", "1")]["latency_ns"] == 25 and rows[("jobs", "1")]["recv_tid"] == 2
    assert rows[("jobs", "2")]["recv_ns"] is None                   # sent, never received
    assert rows[("other", "1")]["send_ns"] is None                  # received, send not recorded
