import type { Request } from 'express';
import { newId } from '../../lib/ids.ts';
import type { WebhookDeliveryRecord, WebhookEndpointRecord } from '../../store/types.ts';
import { ALL_EVENTS } from '../../webhooks/events.ts';
import { sealSecret } from '../../webhooks/seal.ts';
import { generateWebhookSecret } from '../../webhooks/signature.ts';
import { urlProblem } from '../../webhooks/url-guard.ts';
import {
  type AppContext,
  type OperationHandler,
  organizationOf,
  type RequestBody,
  type Schemas,
  send,
} from '../context.ts';
import { invalidData, invalidField, webhookDeliveryNotFound, webhookEndpointNotFound } from '../errors.ts';

// The webhook endpoint operations (`/v1/webhook-endpoints` and their `/organizations/{organizationId}` twins, one
// implementation: see `organizationOf`): what an organization registers, and the delivery log the worker
// (src/webhooks/worker.ts) writes. The events themselves are written where the changes that cause them are.

const SHOWN_ONCE = 'This signing secret will only be shown once. Please store it securely.';

/** The most endpoints an organization holds: the list stays bounded (the spec's `maxItems`). */
export const MAX_WEBHOOK_ENDPOINTS = 20;

/** How long the previous secret keeps signing after a rotation: 24 hours. */
export const SECRET_OVERLAP_MS = 86_400_000;

/** The deliveries listed: the latest 100. */
const DELIVERY_PAGE = 100;

/** A stored endpoint as the API shows it (never a secret). */
function toWebhookEndpoint(endpoint: WebhookEndpointRecord): Schemas['WebhookEndpoint'] {
  return {
    endpointId: endpoint.endpointId,
    url: endpoint.url,
    description: endpoint.description,
    enabledEvents: endpoint.enabledEvents as Schemas['WebhookEndpoint']['enabledEvents'],
    disabled: endpoint.disabled,
    disabledReason: endpoint.disabledReason,
    createdAt: endpoint.createdAt.toISOString(),
    updatedAt: endpoint.updatedAt.toISOString(),
  };
}

/** A stored delivery as the API shows it. */
function toWebhookDelivery(delivery: WebhookDeliveryRecord): Schemas['WebhookDelivery'] {
  return {
    deliveryId: delivery.deliveryId,
    eventId: delivery.eventId,
    eventType: delivery.eventType,
    status: delivery.status,
    attempts: delivery.attempts,
    lastResponseStatus: delivery.lastResponseStatus,
    lastError: delivery.lastError,
    lastAttemptAt: delivery.lastAttemptAt?.toISOString() ?? null,
    nextAttemptAt: delivery.nextAttemptAt?.toISOString() ?? null,
    createdAt: delivery.createdAt.toISOString(),
  };
}

/** Refuses (422 on `url`) a URL events may not go to: see url-guard.ts. */
async function checkUrl(ctx: AppContext, url: string): Promise<void> {
  const problem = await urlProblem(url, { allowPrivate: ctx.webhooks.allowPrivate, resolve: ctx.webhooks.resolve });
  if (problem) {
    throw invalidField('url', problem);
  }
}

/** The organization's endpoint in the path, or 404. */
async function endpointInPath(req: Request, ctx: AppContext): Promise<WebhookEndpointRecord> {
  const endpointId = String(req.params.endpointId);
  const endpoint = await ctx.store.getWebhookEndpoint(organizationOf(req).organizationId, endpointId);
  if (!endpoint) {
    throw webhookEndpointNotFound(endpointId);
  }
  return endpoint;
}

/** Handlers of the webhook endpoint operations, by operationId. */
export const webhookHandlers: Record<string, OperationHandler> = {
  async listWebhookEndpoints(req, res, ctx) {
    const endpoints = await ctx.store.listWebhookEndpoints(organizationOf(req).organizationId);
    send(res, 'listWebhookEndpoints', 200, {
      success: true,
      data: endpoints.map(toWebhookEndpoint),
      meta: { total: endpoints.length },
    });
  },

  async createWebhookEndpoint(req, res, ctx) {
    const { organizationId } = organizationOf(req);
    const body = req.body as RequestBody<'createWebhookEndpoint'>;
    await checkUrl(ctx, body.url);
    if ((await ctx.store.listWebhookEndpoints(organizationId)).length >= MAX_WEBHOOK_ENDPOINTS) {
      throw invalidData({
        url: [`an organization holds at most ${MAX_WEBHOOK_ENDPOINTS} webhook endpoints: delete one first`],
      });
    }
    const secret = generateWebhookSecret();
    const endpoint = await ctx.store.insertWebhookEndpoint({
      endpointId: newId('we'),
      organizationId,
      url: body.url,
      description: body.description ?? null,
      enabledEvents: body.enabledEvents ?? [ALL_EVENTS],
      disabled: body.disabled ?? false,
      secretSealed: sealSecret(secret, ctx.serverSecret),
      createdAt: ctx.clock(),
    });
    send(res, 'createWebhookEndpoint', 201, {
      success: true,
      data: { ...toWebhookEndpoint(endpoint), secret },
      meta: { warning: SHOWN_ONCE },
    });
  },

  async getWebhookEndpoint(req, res, ctx) {
    send(res, 'getWebhookEndpoint', 200, { success: true, data: toWebhookEndpoint(await endpointInPath(req, ctx)) });
  },

  async updateWebhookEndpoint(req, res, ctx) {
    const endpointId = String(req.params.endpointId);
    const body = req.body as RequestBody<'updateWebhookEndpoint'>;
    if (body.url !== undefined) {
      await checkUrl(ctx, body.url);
    }
    const endpoint = await ctx.store.updateWebhookEndpoint(
      organizationOf(req).organizationId,
      endpointId,
      body,
      ctx.clock(),
    );
    if (!endpoint) {
      throw webhookEndpointNotFound(endpointId);
    }
    send(res, 'updateWebhookEndpoint', 200, { success: true, data: toWebhookEndpoint(endpoint) });
  },

  async deleteWebhookEndpoint(req, res, ctx) {
    const endpointId = String(req.params.endpointId);
    if (!(await ctx.store.deleteWebhookEndpoint(organizationOf(req).organizationId, endpointId))) {
      throw webhookEndpointNotFound(endpointId);
    }
    send(res, 'deleteWebhookEndpoint', 200, { success: true, data: { endpointId, deleted: true } });
  },

  async rotateWebhookSecret(req, res, ctx) {
    const endpointId = String(req.params.endpointId);
    const at = ctx.clock();
    const secret = generateWebhookSecret();
    const previousSecretExpiresAt = new Date(at.getTime() + SECRET_OVERLAP_MS);
    const endpoint = await ctx.store.rotateWebhookSecret(
      organizationOf(req).organizationId,
      endpointId,
      sealSecret(secret, ctx.serverSecret),
      previousSecretExpiresAt,
      at,
    );
    if (!endpoint) {
      throw webhookEndpointNotFound(endpointId);
    }
    send(res, 'rotateWebhookSecret', 200, {
      success: true,
      data: { ...toWebhookEndpoint(endpoint), secret, previousSecretExpiresAt: previousSecretExpiresAt.toISOString() },
      meta: { warning: SHOWN_ONCE },
    });
  },

  async testWebhookEndpoint(req, res, ctx) {
    const endpoint = await endpointInPath(req, ctx);
    const [delivery] = await ctx.store.enqueueWebhookEvents([
      {
        organizationId: endpoint.organizationId,
        type: 'ping',
        at: ctx.clock(),
        endpointId: endpoint.endpointId,
        data: { endpointId: endpoint.endpointId },
      },
    ]);
    if (!delivery) {
      // Deleted between the read and the write.
      throw webhookEndpointNotFound(endpoint.endpointId);
    }
    ctx.webhooks.nudge();
    send(res, 'testWebhookEndpoint', 202, { success: true, data: toWebhookDelivery(delivery) });
  },

  async listWebhookDeliveries(req, res, ctx) {
    const endpointId = String(req.params.endpointId);
    const deliveries = await ctx.store.listWebhookDeliveries(
      organizationOf(req).organizationId,
      endpointId,
      DELIVERY_PAGE,
    );
    if (!deliveries) {
      throw webhookEndpointNotFound(endpointId);
    }
    send(res, 'listWebhookDeliveries', 200, {
      success: true,
      data: deliveries.map(toWebhookDelivery),
      meta: { total: deliveries.length },
    });
  },

  async retryWebhookDelivery(req, res, ctx) {
    const endpoint = await endpointInPath(req, ctx);
    const deliveryId = String(req.params.deliveryId);
    const delivery = await ctx.store.retryWebhookDelivery(
      endpoint.organizationId,
      endpoint.endpointId,
      deliveryId,
      ctx.clock(),
    );
    if (!delivery) {
      throw webhookDeliveryNotFound(deliveryId);
    }
    ctx.webhooks.nudge();
    send(res, 'retryWebhookDelivery', 202, { success: true, data: toWebhookDelivery(delivery) });
  },
};

/** The `/organizations/{organizationId}/webhook-endpoints` operations: the same handlers, by their own operationIds. */
export const organizationWebhookHandlers: Record<string, OperationHandler> = {
  listOrganizationWebhookEndpoints: webhookHandlers.listWebhookEndpoints as OperationHandler,
  createOrganizationWebhookEndpoint: webhookHandlers.createWebhookEndpoint as OperationHandler,
  getOrganizationWebhookEndpoint: webhookHandlers.getWebhookEndpoint as OperationHandler,
  updateOrganizationWebhookEndpoint: webhookHandlers.updateWebhookEndpoint as OperationHandler,
  deleteOrganizationWebhookEndpoint: webhookHandlers.deleteWebhookEndpoint as OperationHandler,
  rotateOrganizationWebhookSecret: webhookHandlers.rotateWebhookSecret as OperationHandler,
  testOrganizationWebhookEndpoint: webhookHandlers.testWebhookEndpoint as OperationHandler,
  listOrganizationWebhookDeliveries: webhookHandlers.listWebhookDeliveries as OperationHandler,
  retryOrganizationWebhookDelivery: webhookHandlers.retryWebhookDelivery as OperationHandler,
};
