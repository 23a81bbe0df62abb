package event

// InventoryShortage is the detail of an "Inventory Shortage" event: an order
// whose items could not be reserved, and what was missing. The order is
// backordered: inventory reserves it, and publishes StockReserved, once
// stock arrives for all of it.
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

// StockReserved is the detail of a "Stock Reserved" event: every item of an
// order is reserved, so the order can be shipped from the shelf.
// Backordered says the order waited for stock first (its reservation came
// when stock arrived), so rules can tell the customer the news.
type StockReserved struct {
	OrderID     string      `json:"order_id"`
	Items       []StockItem `json:"items"`
	Backordered bool        `json:"backordered"`
}

// StockItem is a quantity of one SKU.
type StockItem struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// EventSource names inventory as the event's source.
func (StockReserved) EventSource() string { return SourceInventory }

// EventDetailType is the event's detail-type.
func (StockReserved) EventDetailType() string { return TypeStockReserved }
