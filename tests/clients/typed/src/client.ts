// A typed Guanxi client on plain fetch. graphql-codegen types each operation below from the
// tenant's schema (codegen.yml), so `tsc` refuses code that selects a field the schema lacks or
// reads a result the wrong way, before any request is made.
import { graphql } from '../generated/gql';
import type { DefineCustomFieldInput, RecordInteractionInput, TypedDocumentString } from '../generated/graphql';

const Customers = graphql(`
  query Customers($first: Int!) {
    customers(first: $first) {
      totalCount
      nodes { id name tier lifecycleStage }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

const RecordInteraction = graphql(`
  mutation RecordInteraction($input: RecordInteractionInput!) {
    recordInteraction(input: $input) { id kind occurredAt amount currency customer { id name } }
  }
`);

const DefineCustomField = graphql(`
  mutation DefineCustomField($input: DefineCustomFieldInput!) {
    defineCustomField(input: $input) { id key name type version }
  }
`);

export function guanxi(url: string, token: string) {
  async function execute<Result, Variables>(
    operation: TypedDocumentString<Result, Variables>,
    variables: Variables,
  ): Promise<Result> {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/graphql-response+json',
      },
      body: JSON.stringify({ query: operation.toString(), variables }),
    });
    const { data, errors } = (await response.json()) as { data?: Result | null; errors?: { message: string }[] };
    if (errors?.length || !data) {
      throw new Error(errors?.map((e) => e.message).join('; ') ?? `HTTP ${response.status} without data`);
    }
    return data;
  }

  return {
    /** The first ten customers, each as "name: tier, lifecycle stage" (unranked ones say so). */
    async customers(): Promise<string[]> {
      const { customers } = await execute(Customers, { first: 10 });
      return customers.nodes.map((c) => `${c.name}: ${c.tier ?? 'unranked'}, ${c.lifecycleStage ?? 'unscored'}`);
    },
    async recordInteraction(input: RecordInteractionInput) {
      return (await execute(RecordInteraction, { input })).recordInteraction;
    },
    /** ADMIN only; the tenant's schema has the field from the next request on. */
    async defineCustomField(input: DefineCustomFieldInput) {
      return (await execute(DefineCustomField, { input })).defineCustomField;
    },
  };
}
