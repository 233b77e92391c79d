"""A document shaped like the vendor's published Demand API document (2025-12-18), written here
because the vendor's own files carry no licence and may not be copied into this repository.

It has the YAML features that decide how the vendor's files load, and the shapes of their
fielding-run operations, in a few lines of our own:

- an unquoted `example: 2025-12-18` on the Cint-API-Version header parameter (a date to YAML 1.1),
  unquoted timestamps in examples (`2023-10-09 12:00:00+00:00`), anchors and aliases;
- long path keys written with YAML's explicit-key syntax (`? /demand/…` then `: parameters:`);
- path-level parameters on the run path, operation-level ones on the writes; every parameter,
  header and error response a `$ref` into components; status keys quoted (`'204':`);
- `ETag` required on 200/204, `traceparent`/`tracestate` declared `required: false`, no header on
  the error responses, a `retry-After` header (as spelled there) without `required` on 429;
- the error object with a patterned `object` and a nullable `invalid_params`; the 429 body
  `{object, details}`; the run's body an `allOf` over a seven-property item;
- the operations around the four that must never be sent: PUT on the run's path, a list,
  launch-now, relaunch, and a job that takes an idempotency key.
"""

from __future__ import annotations

from pathlib import Path

FR = "/demand/accounts/{account_id}/projects/{project_id}/target-groups/{target_group_id}/fielding-runs/{fielding_run_id}"

_IDS = """\
      - $ref: '#/components/parameters/AccountID'
      - $ref: '#/components/parameters/ProjectID'
      - $ref: '#/components/parameters/TargetGroupID'
      - $ref: '#/components/parameters/FieldingRunID'
"""

_ERRORS = """\
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
"""

_WRITE_ERRORS = (
    _ERRORS
    + """\
        '412':
          $ref: '#/components/responses/PreconditionFailed'
        '422':
          $ref: '#/components/responses/InvalidState'
"""
)

_TAIL_ERRORS = """\
        '429':
          $ref: '#/components/responses/RateLimited'
        '500':
          $ref: '#/components/responses/Internal'
"""


def _write(action: str, explicit_key: bool, first: bool) -> str:
    """One of the POST writes on the run (pause, resume, complete, relaunch, launch-now).
    `first` writes its 204 in full under an anchor; the others alias it."""
    key = f"  ? {FR}/{action}\n  : parameters:\n" if explicit_key else f"  {FR}/{action}:\n    parameters:\n"
    if first:
        ok = """\
        '204': &write_ok
          description: Accepted. The new version is in the ETag header.
          headers:
            traceparent:
              $ref: '#/components/headers/Traceparent'
            tracestate:
              $ref: '#/components/headers/Tracestate'
            etag:
              $ref: '#/components/headers/ETag'
"""
    elif action == "launch-now":  # the vendor's launch-now answers 200 with the run (and its ETag)
        ok = """\
        '200':
          description: Launched. The new version is in the ETag header.
          headers:
            etag:
              $ref: '#/components/headers/ETag'
          content:
            application/json:
              schema: {type: object}
"""
    else:
        ok = "        '204': *write_ok\n"
    return (
        key
        + f"""\
    - $ref: '#/components/parameters/CintAPIVersion-2025-12-18'
    post:
      operationId: {action.replace("-", "_")}_fielding_run
      summary: The {action} transition of a fielding run.
      parameters:
{_IDS}      - $ref: '#/components/parameters/IfMatchRequired'
      requestBody:
        description: No body.
        required: false
        content: {{}}
      responses:
{ok}{_WRITE_ERRORS}{_TAIL_ERRORS}"""
    )


def vendor_like_text() -> str:
    """The document's YAML text."""
    return (
        f"""\
openapi: 3.0.3
info:
  title: A fielding API shaped like the vendor's
  version: '2025-12-18'
servers:
- url: https://api.example.invalid/v1
security:
- BearerAuth: []
paths:
  /demand/accounts/{{account_id}}/projects/{{project_id}}/target-groups/{{target_group_id}}/fielding-run-jobs/launch-from-draft:
    parameters:
    - $ref: '#/components/parameters/CintAPIVersion-2025-12-18'
    post:
      operationId: create_launch_job
      summary: A job that must never be sent.
      parameters:
      - name: idempotency-key
        in: header
        required: true
        schema: &short_text
          type: string
          maxLength: 64
      - $ref: '#/components/parameters/AccountID'
      - $ref: '#/components/parameters/ProjectID'
      - $ref: '#/components/parameters/TargetGroupID'
      responses:
        '201':
          description: Job created.
  {FR.rsplit("/", 1)[0]}:
    parameters:
    - $ref: '#/components/parameters/CintAPIVersion-2025-12-18'
    get:
      operationId: list_fielding_runs
      summary: A list that must never be sent.
      parameters:
      - $ref: '#/components/parameters/AccountID'
      - $ref: '#/components/parameters/ProjectID'
      - $ref: '#/components/parameters/TargetGroupID'
      - name: cursor
        in: query
        schema: *short_text
      responses:
        '200':
          description: The runs.
{_ERRORS}{_TAIL_ERRORS}  {FR}:
    parameters:
    - $ref: '#/components/parameters/AccountID'
    - $ref: '#/components/parameters/ProjectID'
    - $ref: '#/components/parameters/TargetGroupID'
    - $ref: '#/components/parameters/FieldingRunID'
    - $ref: '#/components/parameters/CintAPIVersion-2025-12-18'
    get:
      operationId: get_fielding_run
      summary: One fielding run.
      responses:
        '200':
          description: The run. Its ETag is what the writes need.
          headers:
            traceparent:
              $ref: '#/components/headers/Traceparent'
            tracestate:
              $ref: '#/components/headers/Tracestate'
            etag:
              $ref: '#/components/headers/ETag'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/GetFieldingRunResponse'
              example:
                id: 01BTGNYV6HRNK8K8VKZASZCFP1
                last_changed_at: 2023-01-01 23:00:00+00:00
                last_changed_by: 6f1c1a52-2b51-4c57-9a55-0d1e8c5f0a11
                start_fielding_at: 2023-01-02 09:00:00+00:00
                end_fielding_at: 2023-01-31 23:59:59+00:00
                status: scheduled
                version: 5
{_ERRORS}{_TAIL_ERRORS}    put:
      operationId: update_fielding_run
      summary: An update that must never be sent.
      parameters:
      - $ref: '#/components/parameters/IfMatchRequired'
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                end_fielding_at:
                  type: string
                  format: date-time
                  example: 2023-10-23 12:00:00+00:00
      responses:
        '202':
          description: Accepted.
          headers:
            etag:
              $ref: '#/components/headers/ETag'
{_WRITE_ERRORS}{_TAIL_ERRORS}"""
        + _write("complete", explicit_key=True, first=True)
        + _write("launch-now", explicit_key=True, first=False)
        + _write("pause", explicit_key=False, first=False)
        + _write("relaunch", explicit_key=True, first=False)
        + _write("resume", explicit_key=False, first=False)
        + """\
components:
  schemas:
    AccountID:
      type: integer
      format: int32
      example: 101
    ProjectID:
      type: string
      pattern: ^[0-9A-Z]{26}$
    TargetGroupID:
      type: string
      pattern: ^[0-9A-Z]{26}$
    FieldingRunID:
      type: string
    FieldingRunStatus:
      type: string
      enum:
      - scheduled
      - live
      - paused
      - completed
    FieldingRunItem:
      type: object
      required: [id, last_changed_at, last_changed_by, start_fielding_at, end_fielding_at, status, version]
      properties:
        id:
          $ref: '#/components/schemas/FieldingRunID'
        last_changed_at:
          type: string
          format: date-time
          example: 2023-10-09 12:00:00+00:00
        last_changed_by:
          type: string
          format: uuid
        start_fielding_at:
          type: string
          format: date-time
        end_fielding_at:
          type: string
          format: date-time
        status:
          $ref: '#/components/schemas/FieldingRunStatus'
        version:
          type: integer
    GetFieldingRunResponse:
      allOf:
      - $ref: '#/components/schemas/FieldingRunItem'
      - description: The run.
    InvalidParam:
      type: object
      required: [name, reason]
      properties:
        name:
          type: string
        reason:
          type: string
    Error:
      type: object
      required: [object, detail]
      properties:
        id:
          type: string
          format: uuid
        object:
          type: string
          pattern: ^([a-z]*_)*([a-z]*)$
        detail:
          type: string
        invalid_params:
          type: array
          nullable: true
          items:
            $ref: '#/components/schemas/InvalidParam'
    TooManyRequests:
      type: object
      required: [object, details]
      properties:
        object:
          type: string
          enum: [too_many_requests_problem_details]
        details:
          type: string
    Event:
      type: object
      properties:
        occurred_at:
          type: string
          format: date-time
      example:
        occurred_at: 2026-01-23 10:04:44.209000+00:00
  headers:
    ETag:
      required: true
      schema:
        type: string
        example: W/"1234"
    Traceparent:
      required: false
      schema:
        type: string
    Tracestate:
      required: false
      schema:
        type: string
  parameters:
    AccountID:
      name: account_id
      in: path
      required: true
      schema:
        $ref: '#/components/schemas/AccountID'
    ProjectID:
      name: project_id
      in: path
      required: true
      schema:
        $ref: '#/components/schemas/ProjectID'
    TargetGroupID:
      name: target_group_id
      in: path
      required: true
      schema:
        $ref: '#/components/schemas/TargetGroupID'
    FieldingRunID:
      name: fielding_run_id
      in: path
      required: true
      schema:
        $ref: '#/components/schemas/FieldingRunID'
    CintAPIVersion-2025-12-18:
      name: Cint-API-Version
      in: header
      required: true
      schema:
        type: string
        example: 2025-12-18
    IfMatchRequired:
      name: If-Match
      in: header
      required: true
      schema:
        type: string
        format: etag
        example: W/"1234"
  responses:
    BadRequest: &error_response
      description: Refused.
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    Unauthorized: *error_response
    Forbidden: *error_response
    NotFound: *error_response
    InvalidState: *error_response
    Internal: *error_response
    PreconditionFailed:
      description: The If-Match tag is not the current one.
      headers:
        traceparent:
          $ref: '#/components/headers/Traceparent'
        tracestate:
          $ref: '#/components/headers/Tracestate'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    RateLimited:
      description: Too many requests.
      headers:
        retry-After:
          schema:
            type: integer
            format: int32
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/TooManyRequests'
  securitySchemes:
    BearerAuth:
      type: http
      scheme: bearer
      bearerFormat: JWT
"""
    )


def write_vendor_like(path: Path) -> Path:
    path.write_text(vendor_like_text(), encoding="utf-8")
    return path
