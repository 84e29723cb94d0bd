import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

/** Routes: members of the organization (/users) and its settings (/organization). Built by the members work. */
export const userRoutes: FastifyPluginAsyncZod = async () => {};
