// Reads the CUSTOMER custom field `wechat_id`, which a tenant's schema has (as `custom.wechatId`)
// only once the tenant defined it: this file type-checks against such a schema alone. The API
// tests check that it fails before the field is defined through the API, and passes after.
import type { Customer } from '../generated/schema';

/** A VIP's name, with the WeChat id to reach them by when their record holds one. */
export function vipContact(customer: Pick<Customer, 'name' | 'custom'>): string {
  const wechatId = customer.custom.wechatId;
  return wechatId ? `${customer.name} (WeChat ${wechatId})` : customer.name;
}
