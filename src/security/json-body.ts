import type { FastifyInstance } from 'fastify';
import secureJson from 'secure-json-parse';
import { AppError } from './errors.js';

/**
 * JSON is the only body the API parses. `__proto__` and `constructor.prototype` keys are
 * refused outright (prototype poisoning), as a validation failure rather than bad JSON.
 */
const POISONED = 'Object contains forbidden prototype property';

export function registerJsonParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    // application/json or a +json type, with or without parameters such as charset.
    /^application\/(?:[a-z0-9.-]+\+)?json\s*(?:;.*)?$/i,
    { parseAs: 'string' },
    (_req, body, done) => {
      const text = String(body);
      if (text.trim() === '') return done(new AppError('invalid_json', 'The body is empty'));
      try {
        done(
          null,
          secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }),
        );
      } catch (err) {
        const poisoned = err instanceof SyntaxError && err.message === POISONED;
        done(
          poisoned
            ? new AppError(
                'validation_failed',
                'The body contains a forbidden key (__proto__ or constructor.prototype)',
              )
            : new AppError('invalid_json'),
        );
      }
    },
  );
}
