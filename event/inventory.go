package event

// InventoryShortage is the detail of an "Inventory Shortage" event: an order
// whose items could not be reserved, and what was missing.
type InventoryShortage struct {
	OrderID string      `json:"order_id"`
	Items   []ShortItem `json:"items"`
}

// ShortItem is one SKU an order wanted more of than was available.
type ShortItem struct {
	SKU       string `json:"sku"`
	Requested int64  `json:"requested"`
	Available int64  `json:"available"`
}

// EventSource names inventory as the event's source.
func (InventoryShortage) EventSource() string { return SourceInventory }

// EventDetailType is the event's detail-type.
func (InventoryShortage) EventDetailType() string { return TypeInventoryShortage }
