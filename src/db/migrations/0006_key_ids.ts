export default /* sql */ `
-- The encryption key ids stored values need, for the start-up check (a server missing one
-- would answer 500 on every request that reads such a value). The server's role sees no
-- tenant rows before a request names its organization, so this runs as the owner; it
-- returns the key id (the second dot-separated part of v1.<keyId>.<iv>.<tag>.<ct>) and a
-- count per column, never a value or an organization. Each encrypted column of
-- src/crypto/rotate.ts must be listed here (test/crypto/key-check.test.ts checks).
CREATE FUNCTION encryption_key_ids()
RETURNS TABLE (label text, key_id text, n bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT 'user_totp.secret', split_part(t.secret, '.', 2), count(*)
    FROM public.user_totp t WHERE t.secret IS NOT NULL GROUP BY 2
  UNION ALL
  SELECT 'user_totp.pending_secret', split_part(t.pending_secret, '.', 2), count(*)
    FROM public.user_totp t WHERE t.pending_secret IS NOT NULL GROUP BY 2
  UNION ALL
  SELECT 'channels.access_token', split_part(c.access_token, '.', 2), count(*)
    FROM public.channels c WHERE c.access_token IS NOT NULL GROUP BY 2
  UNION ALL
  SELECT 'channels.app_secret', split_part(c.app_secret, '.', 2), count(*)
    FROM public.channels c WHERE c.app_secret IS NOT NULL GROUP BY 2
  UNION ALL
  SELECT 'channels.verify_token', split_part(c.verify_token, '.', 2), count(*)
    FROM public.channels c WHERE c.verify_token IS NOT NULL GROUP BY 2
$fn$;
REVOKE ALL ON FUNCTION encryption_key_ids() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION encryption_key_ids() TO bastion_app;
`;
