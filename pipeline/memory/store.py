"""Memory of past trades: fastembed embeddings in Qdrant, so each new alert finds the closed trades most like it.

Every trade is one point whose id derives from the trade id (re-indexing is idempotent). A `close` updates the
point's payload (won, pnl_pct, closed_at and its epoch-seconds twin closed_ts) at once, so the next search counts
the outcome: the scores learn. A search can be "as of" a moment (`closed_before`): only trades closed strictly
before it count, so a replay never sees the future.

Qdrant is the store of record. With local Qdrant (the embedded default) the search itself runs on an in-process
float32 copy of the vectors (`matrix.VectorMatrix`), because local Qdrant upcasts its matrix to float64 at each
query and checks payload filters in Python; the copy is loaded from Qdrant at start and kept in step with every
write. A Qdrant server (QDRANT_URL) searches its own index with a payload filter (status, closed_ts range).

The embedded text is one template (`EMBEDDING_TEMPLATE`), so similar means: same trader habits, same kind of
trade on the same symbol, in the same kind of market.
"""

from __future__ import annotations

import gc
import logging
import pickle
import uuid
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.memory.embedder import Embedder, release_free_memory
from pipeline.memory.matrix import VectorMatrix, closed_ts_of, row_of
from pipeline.memory.qdrant import AsyncQdrantClient, models
from pipeline.models import Leg, OptionKind, Side, opening_action, structure_of

log = logging.getLogger(__name__)

COLLECTION = "xtrades_alerts"
VECTOR_SIZE = 384
POINT_NAMESPACE = uuid.UUID("5b1f6c1e-8f0a-4c6e-9d1e-7a53c0a1d2b4")
EMBEDDING_TEMPLATE = (
    "trader {trader} | {action} {symbol} {option_type} | {moneyness} | {dte} | strategy {strategy} | "
    "trend {trend} | volatility {volatility} | risk {risk}"
)
INDEXED_FIELDS = ("trader", "symbol", "status")
WIDE_FACTOR = 4  # the `limit * 4` nearest closed trades are re-ordered by `prefer`, then cut to `limit`
SCROLL_PAGE = 2048


@dataclass(frozen=True, slots=True)
class TradeFacts:
    """What memory knows of one trade: the text to embed, and the payload to filter and count on."""

    trade_id: int
    trader: str
    action: str
    symbol: str
    option_type: str | None
    strike: float | None = None
    expiry: date | None = None
    underlying_price: float | None = None
    opened_on: date | None = None
    strategy: str | None = None
    trend: str = "neutral"
    volatility: str = "normal"
    risk: str | None = None
    status: str = "open"
    pnl_pct: float | None = None
    won: bool | None = None
    opened_at: datetime | None = None
    closed_at: datetime | None = None

    @property
    def point_id(self) -> str:
        return point_id(self.trade_id)

    def payload(self) -> dict[str, Any]:
        return {
            "trade_id": self.trade_id, "trader": self.trader, "symbol": self.symbol,
            "strategy": self.strategy or own_strategy(self.action, self.option_type), "status": self.status,
            "pnl_pct": self.pnl_pct, "won": self.won, "action": self.action, "option_type": self.option_type,
            "strike": self.strike,
            "opened_at": self.opened_at.isoformat() if self.opened_at else None,
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "closed_ts": self.closed_at.timestamp() if self.closed_at else None,
        }


@dataclass(frozen=True, slots=True)
class Neighbour:
    trade_id: int
    similarity: float
    payload: dict[str, Any]

    def summary(self) -> str:
        p = self.payload
        outcome = "✅" if p.get("won") else "❌" if p.get("won") is False else "•"
        pnl = f"{p['pnl_pct']:+.0f}%" if p.get("pnl_pct") is not None else "n/a"
        strike = f" {p['strike']:g}{(p.get('option_type') or '')[:1].upper()}" if p.get("strike") else ""
        return f"{outcome} {p.get('trader')} {p.get('action')} {p.get('symbol')}{strike} ({p.get('strategy')}) {pnl}"


@dataclass(frozen=True, slots=True)
class SimilarTrades:
    neighbours: tuple[Neighbour, ...] = ()
    point_id: str | None = None

    @property
    def count(self) -> int:
        return len(self.neighbours)

    @property
    def success_rate(self) -> float | None:
        known = [n.payload.get("won") for n in self.neighbours if n.payload.get("won") is not None]
        return sum(1 for w in known if w) / len(known) if known else None

    @property
    def avg_pnl_pct(self) -> float | None:
        values = [n.payload["pnl_pct"] for n in self.neighbours if n.payload.get("pnl_pct") is not None]
        return sum(values) / len(values) if values else None

    @property
    def mean_similarity(self) -> float | None:
        return sum(n.similarity for n in self.neighbours) / self.count if self.neighbours else None

    def lines(self) -> tuple[str, ...]:
        return tuple(n.summary() for n in self.neighbours)


# --- pure helpers ------------------------------------------------------------------------------------------


def point_id(trade_id: int) -> str:
    return str(uuid.uuid5(POINT_NAMESPACE, f"trade:{trade_id}"))


def dense(vector: object) -> list[float] | None:
    """A point's vector as this collection stores it: one unnamed dense vector (never named or multi)."""
    return vector if isinstance(vector, list) else None


def own_strategy(action: str, option_type: str | None) -> str:
    """The name of the trader's own structure when the judge did not name it (a trade seen only as history):
    the typed core's name of its one leg, so memory and the card call a trade the same."""
    side = Side.BUY if opening_action(action) == "BTO" else Side.SELL
    kind = OptionKind(option_type) if option_type in ("call", "put") else OptionKind.STOCK
    return structure_of((Leg.of(side, kind, None, None, 1),)).name


def moneyness(option_type: str | None, strike: float | None, spot: float | None) -> str:
    if option_type is None:
        return "shares"
    if not strike or not spot:
        return "moneyness unknown"
    distance = (spot - strike) / spot if option_type == "call" else (strike - spot) / spot
    if abs(distance) <= 0.02:
        return "at the money"
    return "in the money" if distance > 0 else "out of the money"


def dte_bucket(expiry: date | None, opened_on: date | None) -> str:
    if expiry is None or opened_on is None:
        return "no expiry"
    days = (expiry - opened_on).days
    if days <= 0:
        return "0DTE"
    for limit, label in ((2, "1-2 days"), (7, "under a week"), (21, "1-3 weeks"), (60, "1-2 months"),
                         (180, "2-6 months")):
        if days <= limit:
            return label
    return "long dated"


def embedding_text(facts: TradeFacts) -> str:
    return EMBEDDING_TEMPLATE.format(
        trader=facts.trader, action=facts.action, symbol=facts.symbol, option_type=facts.option_type or "shares",
        moneyness=moneyness(facts.option_type, facts.strike, facts.underlying_price),
        dte=dte_bucket(facts.expiry, facts.opened_on), strategy=facts.strategy or own_strategy(
            facts.action, facts.option_type), trend=facts.trend, volatility=facts.volatility,
        risk=facts.risk or "standard",
    )


# --- I/O ---------------------------------------------------------------------------------------------------


def open_vector_store(*, url: str | None, api_key: str | None, path: str | Path) -> AsyncQdrantClient:
    """The one factory: a Qdrant server or cloud cluster when `url` is set, else local Qdrant at `path`."""
    if url:
        # No version probe at construction: start-up must not depend on the server being up.
        return AsyncQdrantClient(url=url, api_key=api_key, check_compatibility=False)
    Path(path).mkdir(parents=True, exist_ok=True)
    return AsyncQdrantClient(path=str(path))


def is_local(client: AsyncQdrantClient) -> bool:
    return type(client._client).__name__ == "AsyncQdrantLocal"


class TradeMemory:
    """Index trades, record outcomes, find the nearest closed trades (as of a moment, when asked)."""

    def __init__(self, client: AsyncQdrantClient, embedder: Embedder, *, collection: str = COLLECTION,
                 as_of_in_process: bool | None = None) -> None:
        self._client = client
        self._local = is_local(client)
        self._distance = models.Distance.DOT if self._local else models.Distance.COSINE
        # The search runs on an in-process float32 copy (local Qdrant: its filters scan in Python), or in Qdrant
        # with a payload filter (a server). None: decided by the client.
        self._in_process = self._local if as_of_in_process is None else as_of_in_process
        self._embedder = embedder
        self.collection = collection
        self._matrix: VectorMatrix | None = None  # local mode only: the search copy of the vectors
        self._ready = False

    @property
    def local(self) -> bool:
        """Local Qdrant (searched through the in-process matrix), not a Qdrant server."""
        return self._local

    async def ensure_collection(self) -> None:
        if self._ready:
            return
        if not await self._client.collection_exists(self.collection):
            await self._client.create_collection(
                self.collection, vectors_config=models.VectorParams(size=VECTOR_SIZE, distance=self._distance))
            with warnings.catch_warnings():  # local mode says its indexes do nothing; a server uses them
                warnings.simplefilter("ignore", UserWarning)
                for name in INDEXED_FIELDS:
                    await self._client.create_payload_index(self.collection, name, models.PayloadSchemaType.KEYWORD)
                await self._client.create_payload_index(self.collection, "closed_ts", models.PayloadSchemaType.FLOAT)
        if self._in_process:
            self._matrix = await self._load_matrix()
            self._compact_after_load()
        self._ready = True

    async def _load_matrix(self) -> VectorMatrix:
        """Every stored point's vector and filter facts, read once from Qdrant (the store of record)."""
        matrix = VectorMatrix(VECTOR_SIZE)
        offset: Any = None
        while True:
            points, offset = await self._client.scroll(
                self.collection, limit=SCROLL_PAGE, offset=offset, with_vectors=True,
                with_payload=["trade_id", "status", "closed_at", "closed_ts", "symbol", "trader"])
            matrix.put_many((row_of(dict(p.payload or {})), vector) for p in points
                            if (vector := dense(p.vector)) is not None)
            if offset is None:
                break
        matrix.fit()
        return matrix

    def _compact_after_load(self) -> None:
        """Give back what loading local Qdrant and the matrix left behind (about 160 MB at 20,000 points).

        Local Qdrant reads each stored vector back as a list of Python floats (7.7 million at 20,000 points),
        then holds them as one float64 array: it is kept as float32, as written. The floats are freed, but the
        objects made between them and kept (each point's payload and id, the matrix's trade ids and names) pin
        the memory they share, so Python cannot return it. Those objects are pickled into one buffer, dropped,
        and rebuilt from it: rebuilt after the memory they pinned has been freed, they sit together."""
        collection = getattr(getattr(self._client, "_client", None), "collections", {}).get(self.collection)
        vectors = getattr(collection, "vectors", None)
        if isinstance(vectors, dict):
            for name, array in vectors.items():
                if isinstance(array, np.ndarray) and array.dtype != np.float32:
                    vectors[name] = array.astype(np.float32)
        held = [name for name in ("payload", "ids", "ids_inv") if hasattr(collection, name)]
        buffer = pickle.dumps(([getattr(collection, name) for name in held], self._matrix),
                              protocol=pickle.HIGHEST_PROTOCOL)
        for name in held:
            setattr(collection, name, None)
        self._matrix = None
        gc.collect()
        values, self._matrix = pickle.loads(buffer)
        for name, value in zip(held, values, strict=True):
            setattr(collection, name, value)
        del buffer
        release_free_memory()

    async def index(self, trades: Sequence[TradeFacts], *, batch_size: int = 256) -> int:
        """Upsert trades in batches (one embedding call and one upsert per batch); returns how many."""
        await self.ensure_collection()
        done = 0
        for start in range(0, len(trades), batch_size):
            chunk = trades[start:start + batch_size]
            vectors = await self._embedder.embed([embedding_text(f) for f in chunk])
            await self._upsert(list(zip(chunk, vectors, strict=True)))
            done += len(chunk)
        return done

    async def _upsert(self, pairs: Sequence[tuple[TradeFacts, np.ndarray]]) -> None:
        """Qdrant first (the record), then the search copy."""
        payloads = [f.payload() for f, _ in pairs]
        await self._client.upsert(self.collection, points=[
            models.PointStruct(id=f.point_id, vector=np.asarray(v, dtype=np.float32).tolist(), payload=p)
            for (f, v), p in zip(pairs, payloads, strict=True)], wait=True)
        if self._matrix is not None:
            self._matrix.put_many((row_of(p), v) for (_, v), p in zip(pairs, payloads, strict=True))

    async def record_outcome(self, trade_id: int, *, won: bool | None, pnl_pct: float | None,
                             closed_at: datetime | None) -> None:
        """The learning loop: a closed trade's outcome counts in the very next search."""
        await self.ensure_collection()
        closed_ts = closed_at.timestamp() if closed_at else None
        await self._client.set_payload(self.collection, payload={
            "status": "closed", "won": won, "pnl_pct": pnl_pct,
            "closed_at": closed_at.isoformat() if closed_at else None, "closed_ts": closed_ts,
        }, points=[point_id(trade_id)], wait=True)
        if self._matrix is not None:
            self._matrix.set_outcome(trade_id, closed=True, closed_ts=closed_ts)

    async def existing_ids(self, trade_ids: Iterable[int]) -> dict[int, str | None]:
        """trade id -> stored status, for the trades that already have a point."""
        await self.ensure_collection()
        ids = {point_id(t): t for t in trade_ids}
        if not ids:
            return {}
        found = await self._client.retrieve(self.collection, ids=list(ids), with_payload=["status"])
        return {ids[str(p.id)]: (p.payload or {}).get("status") for p in found}

    async def stored_vectors(self, trade_ids: Iterable[int]) -> dict[int, list[float]]:
        """The stored vectors of those trades (the ones that have a point)."""
        await self.ensure_collection()
        wanted = list(dict.fromkeys(trade_ids))
        if self._matrix is not None:
            found = {t: self._matrix.vector(t) for t in wanted}
            return {t: v.tolist() for t, v in found.items() if v is not None}
        ids = {point_id(t): t for t in wanted}
        keys, fetched = list(ids), {}
        for start in range(0, len(keys), 1000):
            points = await self._client.retrieve(self.collection, ids=keys[start:start + 1000], with_vectors=True,
                                                 with_payload=False)
            fetched.update({ids[str(p.id)]: [float(x) for x in vector] for p in points
                            if (vector := dense(p.vector)) is not None})
        return fetched

    async def similar_closed(self, facts: TradeFacts, *, limit: int = 5, prefer: str | None = "symbol",
                             remember: bool = False, closed_before: datetime | None = None,
                             vector: Sequence[float] | None = None) -> SimilarTrades:
        """The `limit` nearest closed trades (same symbol first when `prefer="symbol"`, or same trader).

        `closed_before`: only trades whose close time is strictly before it count (an as-of search, no
        look-ahead; a closed trade whose close time is unknown does not count then); None = every closed trade.
        `vector`: used instead of embedding `facts` (no model call). With `remember`, the trade itself is
        indexed too, from the same vector.
        """
        await self.ensure_collection()
        query = (np.asarray(vector, dtype=np.float32) if vector is not None
                 else (await self._embedder.embed([embedding_text(facts)]))[0])
        if remember:
            await self._upsert([(facts, query)])
        before = closed_before.timestamp() if closed_before is not None else None
        wide = limit * WIDE_FACTOR
        if self._matrix is not None:
            closed = await self._local_nearest(query, wide, exclude=facts.trade_id, closed_before=before)
        else:
            closed = await self._server_nearest(query, wide, exclude=facts.trade_id, closed_before=before)
        if prefer in ("symbol", "trader"):
            wanted = facts.symbol if prefer == "symbol" else facts.trader
            closed.sort(key=lambda h: (h.payload.get(prefer) != wanted, -h.similarity))
        return SimilarTrades(tuple(closed[:limit]), facts.point_id)

    async def _local_nearest(self, query: np.ndarray, k: int, *, exclude: int,
                             closed_before: float | None) -> list[Neighbour]:
        """The matrix picks the trades; their payloads are read from Qdrant by id (no scan)."""
        assert self._matrix is not None
        hits = self._matrix.nearest_closed(query, k, exclude=exclude, closed_before=closed_before)
        if not hits:
            return []
        points = await self._client.retrieve(self.collection, ids=[point_id(t) for t, *_ in hits],
                                             with_payload=True)
        payloads = {int((p.payload or {}).get("trade_id", -1)): dict(p.payload or {}) for p in points}
        return [Neighbour(t, score, payloads[t]) for t, score, *_ in hits if t in payloads]

    async def _server_nearest(self, query: np.ndarray, k: int, *, exclude: int,
                              closed_before: float | None) -> list[Neighbour]:
        """A Qdrant server filters in its index: closed, and (as of a moment) closed_ts before it. Points
        written before closed_ts existed are let through the filter and judged by their ISO closed_at."""
        must: list[Any] = [models.FieldCondition(key="status", match=models.MatchValue(value="closed"))]
        if closed_before is not None:
            must.append(models.Filter(should=[
                models.FieldCondition(key="closed_ts", range=models.Range(lt=closed_before)),
                models.IsEmptyCondition(is_empty=models.PayloadField(key="closed_ts")),
            ]))
        result = await self._client.query_points(
            self.collection, query=query.tolist(), limit=k + 1, with_payload=True,
            query_filter=models.Filter(must=must, must_not=[models.HasIdCondition(has_id=[point_id(exclude)])]))
        hits = [Neighbour(int((p.payload or {}).get("trade_id", -1)), float(p.score), dict(p.payload or {}))
                for p in result.points]
        if closed_before is not None:
            hits = [h for h in hits if (ts := closed_ts_of(h.payload)) is not None and ts < closed_before]
        return hits[:k]

    async def count(self) -> int:
        await self.ensure_collection()
        if self._matrix is not None:
            return len(self._matrix)
        return (await self._client.count(self.collection, exact=True)).count

    async def close(self) -> None:
        await self._client.close()
