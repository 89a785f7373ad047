-- A cloud project can be registered by an operator (`CloudProjectRegistered` on
-- `cloud-projects`, `trestle-admin project add`): its region and notebook limit as the pool
-- projection already keeps them, and the one company it is dedicated to, if any (an enterprise
-- company registered with isolation `dedicated`). NULL: a shared pool project, or one the pool
-- knows only from provisioning, notebooks or requests.
ALTER TABLE cloud_projects ADD COLUMN dedicated_company_id UUID;
