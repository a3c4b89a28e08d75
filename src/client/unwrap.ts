import { MailroomError } from './errors.ts';

/** What every call of an openapi-fetch client resolves to. */
export interface FetchResult {
  data?: unknown;
  error?: unknown;
  response: Response;
}

/** The success envelope (`{ success: true, data, meta? }`) of a call's result type. */
export type SuccessEnvelope<R> = R extends { data: infer D } ? Exclude<D, undefined> : never;

/** The envelope's `data`: what {@link unwrap} returns. */
export type SuccessData<R> = SuccessEnvelope<R> extends { data: infer T } ? T : undefined;

/** The envelope's `meta` (`total` on key lists, `nextCursor` on contact pages), or undefined if it has none. */
export type SuccessMeta<R> = SuccessEnvelope<R> extends { meta: infer M } ? M : undefined;

/**
 * Returns the `data` of a call's success envelope, or throws a {@link MailroomError} for any non-2xx response. Takes
 * the call's promise or its settled result: `const keys = await unwrap(mailroom.GET('/v1/api-keys'))`.
 */
export async function unwrap<R extends FetchResult>(result: R | PromiseLike<R>): Promise<SuccessData<R>> {
  const envelope = await successEnvelope(result);
  return envelope?.data as SuccessData<R>;
}

/** Like {@link unwrap}, but returns `{ data, meta }`, for lists whose `meta` carries `total` or `nextCursor`. */
export async function unwrapEnvelope<R extends FetchResult>(
  result: R | PromiseLike<R>,
): Promise<{ data: SuccessData<R>; meta: SuccessMeta<R> }> {
  const envelope = await successEnvelope(result);
  return { data: envelope?.data as SuccessData<R>, meta: envelope?.meta as SuccessMeta<R> };
}

async function successEnvelope(result: FetchResult | PromiseLike<FetchResult>) {
  const { data, error, response } = await result;
  if (!response.ok) {
    throw MailroomError.fromResponse(error, response);
  }
  return data as { data?: unknown; meta?: unknown } | undefined;
}
