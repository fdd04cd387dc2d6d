"""fieldkit.nim — OpenAI-compatible NIM clients (sync and async) plus token/chunk utilities.

The published surface, same names and behaviour: ``NIMClient``, the error classes,
``chunk_text``, ``estimate_tokens``, ``wait_for_warm``, ``NIM_CONTEXT_WINDOW``,
``DEFAULT_CHUNK_TOKENS``, ``ChatMessage``. Also:
``AsyncNIMClient``, streaming, embeddings, reranking, ``chat_many``, configurable retries.
"""

from __future__ import annotations

from fieldkit.nim._async_client import AsyncNIMClient
from fieldkit.nim._base import NIM_CONTEXT_WINDOW
from fieldkit.nim._client import NIMClient
from fieldkit.nim._errors import (
    NIMContextOverflowError,
    NIMError,
    NIMHTTPError,
    NIMResponseError,
    NIMServerContextOverflowError,
    NIMServerError,
    NIMStreamError,
    NIMTimeoutError,
)
from fieldkit.nim._payloads import RETRY_STATUSES as RETRY_STATUSES
from fieldkit.nim._payloads import ChatMessage
from fieldkit.nim._retry import RetryPolicy, parse_retry_after
from fieldkit.nim._streams import AsyncChatStream, ChatStream
from fieldkit.nim._tokens import CHARS_PER_TOKEN_ESTIMATE as CHARS_PER_TOKEN_ESTIMATE
from fieldkit.nim._tokens import (
    DEFAULT_CHUNK_TOKENS,
    TokenCounter,
    chunk_text,
    estimate_tokens,
    message_tokens,
)
from fieldkit.nim._warm import wait_for_warm

__all__ = [
    "CHARS_PER_TOKEN_ESTIMATE",
    "DEFAULT_CHUNK_TOKENS",
    "NIM_CONTEXT_WINDOW",
    "RETRY_STATUSES",
    "AsyncChatStream",
    "AsyncNIMClient",
    "ChatMessage",
    "ChatStream",
    "NIMClient",
    "NIMContextOverflowError",
    "NIMError",
    "NIMHTTPError",
    "NIMResponseError",
    "NIMServerContextOverflowError",
    "NIMServerError",
    "NIMStreamError",
    "NIMTimeoutError",
    "RetryPolicy",
    "TokenCounter",
    "chunk_text",
    "estimate_tokens",
    "message_tokens",
    "parse_retry_after",
    "wait_for_warm",
]
