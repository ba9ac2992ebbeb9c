import { graphql } from 'relay-runtime';

// A customer by its global id, as a detail page opened from a link loads it. `node` may be any
// type: @alias makes `customer` null unless it is a Customer.
export const customerNodeQuery = graphql`
  query CustomerNodeQuery($id: ID!) {
    node(id: $id) {
      ...CustomerRow_customer @alias(as: "customer")
    }
  }
`;
