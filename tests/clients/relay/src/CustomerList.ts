import { graphql } from 'relay-runtime';

// The customer list, paged forward with usePaginationFragment: @connection holds only if the
// customers connection has the shape Relay expects (edges with cursor and node, pageInfo).
export const customerList = graphql`
  fragment CustomerList_query on Query
  @argumentDefinitions(count: { type: "Int", defaultValue: 10 }, cursor: { type: "String" })
  @refetchable(queryName: "CustomerListPaginationQuery") {
    customers(first: $count, after: $cursor) @connection(key: "CustomerList_customers") {
      totalCount
      edges {
        node {
          ...CustomerRow_customer
        }
      }
    }
  }
`;

export const customerListQuery = graphql`
  query CustomerListQuery {
    ...CustomerList_query
  }
`;
