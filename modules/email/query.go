package email

import (
	"context"
	"fmt"
)

// ForOrders lists the emails of several orders, oldest first, by order:
// the journeys of a page of orders in one query.
func (s *Records) ForOrders(ctx context.Context, orderIDs []string) (map[string][]Job, error) {
	out := make(map[string][]Job, len(orderIDs))
	if len(orderIDs) == 0 {
		return out, nil
	}
	var rows []jobRow
	if err := s.db.WithContext(ctx).Where("order_id IN ?", orderIDs).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("email: jobs of %d orders: %w", len(orderIDs), err)
	}
	for _, r := range rows {
		out[r.OrderID] = append(out[r.OrderID], r.job())
	}
	return out, nil
}
