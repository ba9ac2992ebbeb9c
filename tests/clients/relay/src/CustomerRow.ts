import { graphql } from 'relay-runtime';

// A customer as a row of a list. @refetchable on a Node type makes Relay build its refetch
// query on `node(id:)`, which holds only if Customer implements Node as Relay expects.
export const customerRow = graphql`
  fragment CustomerRow_customer on Customer @refetchable(queryName: "CustomerRowRefetchQuery") {
    id
    name
    tier
    lifecycleStage
  }
`;
