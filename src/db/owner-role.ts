/**
 * Commands that must see every organization's rows (key rotation, audit verification) run
 * as the owner role. Row-level security shows any other role no tenant rows at all, so
 * such a command would find nothing and report success, or an empty or broken chain.
 */
export const CURRENT_ROLE_SQL =
  'select current_user::text as name, (rolsuper or rolbypassrls) as exempt from pg_roles where rolname = current_user';

export interface CurrentRole {
  name: string;
  exempt: boolean;
}

export const notOwnerMessage = (command: string, role: string | undefined): string =>
  `${command} must run as the owner role: set DATABASE_MIGRATION_URL to the role that owns the tables (it ran as "${role ?? '?'}", whom row-level security shows no organization's rows)`;
